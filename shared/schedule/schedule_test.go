package schedule

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/aos-project/aos/shared/engine"
)

func TestAWSExpression(t *testing.T) {
	for in, want := range map[string]string{
		"0 3 * * *":       "cron(0 3 * * ? *)",
		"*/15 * * * *":    "cron(*/15 * * * ? *)",
		"30 6 * * 1-5":    "cron(30 6 ? * 2-6 *)",
		"0 0 * * 0,6":     "cron(0 0 ? * 1,7 *)",
		"@every 30m":      "rate(30 minutes)",
		"@every 1m":       "rate(1 minute)",
		"0 12 * * MON":    "cron(0 12 ? * MON *)",
		"0 0 1 * *":       "cron(0 0 1 * ? *)",
		"5 4 1 1,7 *":     "cron(5 4 1 1,7 ? *)",
		"0 22 * * 1-5/2":  "cron(0 22 ? * 2-6/2 *)",
		"0 0 1,15 * *":    "cron(0 0 1,15 * ? *)",
		"0 9 * JAN-MAR *": "cron(0 9 * JAN-MAR ? *)",
	} {
		got, err := AWSExpression(in)
		if err != nil || got != want {
			t.Errorf("AWSExpression(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"0 3 1 * 1", "0 3 * *", "61 * * * *", "@every 5s", "@hourly"} {
		if got, err := AWSExpression(bad); err == nil {
			t.Errorf("AWSExpression(%q) = %q; want an error", bad, got)
		}
	}
}

func TestCheck(t *testing.T) {
	if err := Check(&engine.Schedule{Cron: "0 3 * * *", TimeZone: "Europe/Berlin"}); err != nil {
		t.Fatal(err)
	}
	if err := Check(&engine.Schedule{Cron: "0 3 * * *", TimeZone: "Mars/Olympus"}); err == nil {
		t.Fatal("unknown time zone accepted")
	}
	next, err := Next(&engine.Schedule{Cron: "0 3 * * *", TimeZone: "Europe/Berlin"}, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
	if err != nil || !next.Equal(time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("next 03:00 Berlin after midnight UTC = %v, %v", next, err)
	}
}

type fakeScheduler struct {
	created  []*scheduler.CreateScheduleInput
	updated  []*scheduler.UpdateScheduleInput
	deleted  []string
	conflict bool
}

func (f *fakeScheduler) CreateSchedule(_ context.Context, in *scheduler.CreateScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error) {
	f.created = append(f.created, in)
	if f.conflict {
		return nil, &types.ConflictException{Message: aws.String("exists")}
	}
	return &scheduler.CreateScheduleOutput{}, nil
}

func (f *fakeScheduler) UpdateSchedule(_ context.Context, in *scheduler.UpdateScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error) {
	f.updated = append(f.updated, in)
	return &scheduler.UpdateScheduleOutput{}, nil
}

func (f *fakeScheduler) DeleteSchedule(_ context.Context, in *scheduler.DeleteScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.DeleteScheduleOutput, error) {
	f.deleted = append(f.deleted, *in.Name)
	return nil, &types.ResourceNotFoundException{Message: aws.String("gone")}
}

// The request is checked against the SDK's own types: what EventBridge Scheduler would get.
func TestEventBridgeRequests(t *testing.T) {
	f := &fakeScheduler{}
	eb := &EventBridge{Client: f, StateMachineARN: "arn:aws:states:eu-west-1:123456789012:stateMachine:aos-stack", RoleARN: "arn:aws:iam::123456789012:role/aos-scheduler", Group: "aos"}
	ctx := context.Background()
	if err := eb.SetSchedule(ctx, "shop", &engine.Schedule{Cron: "30 6 * * 1-5", TimeZone: "Europe/Paris"}); err != nil {
		t.Fatal(err)
	}
	in := f.created[0]
	if *in.Name != "aos-rebuild-shop" || *in.GroupName != "aos" || *in.ScheduleExpression != "cron(30 6 ? * 2-6 *)" ||
		*in.ScheduleExpressionTimezone != "Europe/Paris" || in.FlexibleTimeWindow.Mode != types.FlexibleTimeWindowModeOff ||
		*in.Target.Arn != eb.StateMachineARN || *in.Target.RoleArn != eb.RoleARN {
		t.Fatalf("create request: %+v", in)
	}
	var payload engine.OpRequest
	if err := json.Unmarshal([]byte(*in.Target.Input), &payload); err != nil || payload.Stack != "shop" || payload.Operation != engine.OpRebuild {
		t.Fatalf("target input %s: %v", *in.Target.Input, err)
	}
	f.conflict = true
	if err := eb.SetSchedule(ctx, "shop", &engine.Schedule{Cron: "0 4 * * *"}); err != nil || len(f.updated) != 1 || *f.updated[0].ScheduleExpression != "cron(0 4 * * ? *)" || *f.updated[0].ScheduleExpressionTimezone != "UTC" {
		t.Fatalf("an existing schedule is updated: %v %+v", err, f.updated)
	}
	if err := eb.SetSchedule(ctx, "shop", nil); err != nil || f.deleted[0] != "aos-rebuild-shop" {
		t.Fatalf("delete: %v %v", err, f.deleted)
	}
	if err := eb.SetSchedule(ctx, "shop", &engine.Schedule{Cron: "0 4 1 * 1"}); err == nil {
		t.Fatal("a schedule AWS cannot express was accepted")
	}
}

func TestLocalFires(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fired := make(chan string, 4)
	l := NewLocal(ctx, func(_ context.Context, stack string) { fired <- stack })
	if err := l.SetSchedule(ctx, "s1", &engine.Schedule{Cron: "@every 1s"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case s := <-fired:
			if s != "s1" {
				t.Fatalf("fired %q", s)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the schedule did not fire")
		}
	}
	if err := l.SetSchedule(ctx, "s1", nil); err != nil {
		t.Fatal(err)
	}
}
