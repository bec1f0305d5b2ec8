package statemachine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Each point where the runner once was more lenient than AWS: the definition AWS rejects is
// rejected at load, and the execution AWS fails fails here with the same error name.
func TestStrictAsAWS(t *testing.T) {
	echo := map[string]Handler{"arn:echo": func(_ context.Context, p []byte) ([]byte, error) { return p, nil }}
	big := map[string]Handler{"arn:big": func(context.Context, []byte) ([]byte, error) {
		return []byte(`"` + strings.Repeat("x", MaxPayloadBytes) + `"`), nil
	}}
	fails := map[string]Handler{"arn:fail": func(context.Context, []byte) ([]byte, error) { return nil, errors.New("boom") }}
	for _, tc := range []struct {
		name, def, input string
		res              map[string]Handler
		want             string // the error's name; "" when the run succeeds
	}{
		{name: "States.ALL does not catch States.Runtime", res: echo, want: "States.Runtime",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:echo","Parameters":{"x.$":"$.missing"},
				"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Caught"}],"End":true},"Caught":{"Type":"Succeed"}}}`},
		{name: "States.ALL does not catch States.DataLimitExceeded", res: big, want: "States.DataLimitExceeded",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:big","Catch":[{"ErrorEquals":["States.ALL"],"Next":"Caught"}],"End":true},
				"Caught":{"Type":"Succeed"}}}`},
		{name: "States.DataLimitExceeded is caught where it is named", res: big,
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:big","Catch":[{"ErrorEquals":["States.DataLimitExceeded"],"Next":"Caught"}],"End":true},
				"Caught":{"Type":"Succeed"}}}`},
		{name: "States.Runtime is not retried", res: echo, want: "States.Runtime",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:echo","Parameters":{"x.$":"$.missing"},
				"Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":3}],"End":true}}}`},
		{name: "a missing path in Parameters", res: echo, want: "States.Runtime",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:echo","Parameters":{"x.$":"$.missing"},"End":true}}}`},
		{name: "a missing path in a Pass state's Parameters", want: "States.Runtime",
			def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"x.$":"$.missing"},"End":true}}}`},
		{name: "a missing path in ItemSelector", res: echo, want: "States.Runtime", input: `{"items":[1]}`,
			def: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","ItemSelector":{"v.$":"$.missing"},
				"ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:echo","End":true}}},"End":true}}}`},
		{name: "a missing path in ResultSelector", res: echo, want: "States.Runtime",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:echo","ResultSelector":{"v.$":"$.missing"},"End":true}}}`},
		{name: "a missing OutputPath", want: "States.Runtime",
			def: `{"StartAt":"P","States":{"P":{"Type":"Pass","OutputPath":"$.missing","End":true}}}`},
		{name: "a Choice rule on a missing Variable", want: "States.Runtime",
			def: `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.missing","BooleanEquals":true,"Next":"D"}],"Default":"D"},"D":{"Type":"Succeed"}}}`},
		{name: "IsPresent asks about a missing Variable",
			def: `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.missing","IsPresent":true,"Next":"F"}],"Default":"D"},
				"D":{"Type":"Succeed"},"F":{"Type":"Fail","Error":"Wrong"}}}`},
		{name: "a Wait of non-integer seconds from the input", want: "States.Runtime", input: `{"s":1.5}`,
			def: `{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}`},
		{name: "a Wait of more than 99,999,999 seconds from the input", want: "States.Runtime", input: `{"s":100000000}`,
			def: `{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}`},
		{name: "States.TaskFailed does not take States.Runtime", res: echo,
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:echo","ResultPath":"$.r","OutputPath":"$.missing",
				"Catch":[{"ErrorEquals":["States.TaskFailed"],"Next":"Caught"}],"End":true},"Caught":{"Type":"Succeed"}}}`, want: "States.Runtime"},
		{name: "a Lambda error is caught with its type as the name", res: fails,
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:fail","Catch":[{"ErrorEquals":["errorString"],"ResultPath":"$.e","Next":"Check"}],"End":true},
				"Check":{"Type":"Choice","Choices":[{"Variable":"$.e.Cause","StringEquals":"{\"errorMessage\":\"boom\",\"errorType\":\"errorString\"}","Next":"Ok"}],"Default":"Bad"},
				"Ok":{"Type":"Succeed"},"Bad":{"Type":"Fail","Error":"CauseNotTheLambdaErrorDocument"}}}`},
		{name: "a state input over 256 KiB", want: "States.DataLimitExceeded", input: `{"x":"` + strings.Repeat("y", MaxPayloadBytes) + `"}`,
			def: `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			input := tc.input
			if input == "" {
				input = `{}`
			}
			_, _, err := run(t, tc.def, tc.res, input)
			var ae *Error
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("AWS runs this to success; got %v", err)
			case tc.want != "" && (!errors.As(err, &ae) || ae.Name != tc.want):
				t.Fatalf("want %s, got %v", tc.want, err)
			}
		})
	}
}

// A Wait state's Seconds must be an integer from 0 to 99,999,999: AWS refuses the definition.
func TestWaitSecondsAtLoad(t *testing.T) {
	for _, secs := range []string{"1.5", "-1", "100000000"} {
		def := fmt.Sprintf(`{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":%s,"End":true}}}`, secs)
		if _, err := Load([]byte(def), nil); err == nil || !strings.Contains(err.Error(), "Seconds must be an integer") {
			t.Errorf("Seconds %s: %v", secs, err)
		}
	}
}

// History events are counted as AWS records them, and an execution that passes 25,000 fails.
func TestHistoryEventsAsAWSCounts(t *testing.T) {
	echo := map[string]Handler{"arn:echo": func(_ context.Context, p []byte) ([]byte, error) { return []byte(`{}`), nil }}
	def := `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","ResultPath":null,
		"ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:echo","End":true}}},"End":true}}}`
	items := func(n int) string {
		return `{"items":[` + strings.TrimSuffix(strings.Repeat("1,", n), ",") + `]}`
	}
	_, x, err := run(t, def, echo, items(10))
	// Execution 2, the Map state 2 + 2, and per iteration 2 + the task's 2 + 3.
	if err != nil || x.HistoryEvents() != 2+4+10*7 {
		t.Fatalf("10 iterations: %d events, %v", x.HistoryEvents(), err)
	}
	_, x, err = run(t, def, echo, items(3600))
	var ae *Error
	if !errors.As(err, &ae) || ae.Name != "States.Runtime" || !strings.Contains(ae.Cause, "25000-event quota") {
		t.Fatalf("3,600 iterations (over 25,000 events): %v", err)
	}
	_ = x
}
