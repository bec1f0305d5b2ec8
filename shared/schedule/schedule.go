// Package schedule runs stacks' rebuild schedules: standard 5-field cron expressions in a
// time zone. aos serve fires them in-process (Local); on AWS each becomes an EventBridge
// Scheduler schedule that starts the stack state machine (EventBridge).
package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/robfig/cron/v3"

	"github.com/aos-project/aos/shared/engine"
)

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Check validates a schedule: five cron fields (minute hour day-of-month month day-of-week)
// and an IANA time zone (default UTC).
//
// "@every DURATION" (e.g. "@every 30m") is accepted too; on AWS it becomes rate(N minutes),
// so there it must be whole minutes.
func Check(s *engine.Schedule) error {
	if strings.HasPrefix(s.Cron, "@every ") {
		d, err := time.ParseDuration(strings.TrimPrefix(s.Cron, "@every "))
		if err != nil || d < time.Second {
			return fmt.Errorf("cron %q: @every needs a duration of a second or more, e.g. \"@every 30m\"", s.Cron)
		}
	} else if len(strings.Fields(s.Cron)) != 5 {
		return fmt.Errorf("cron %q: expected 5 fields (minute hour day-of-month month day-of-week), e.g. \"0 3 * * *\"", s.Cron)
	}
	if _, err := parser.Parse(s.Cron); err != nil {
		return fmt.Errorf("cron %q: %v", s.Cron, err)
	}
	if _, err := time.LoadLocation(zone(s)); err != nil {
		return fmt.Errorf("timeZone %q: %v", s.TimeZone, err)
	}
	return nil
}

func zone(s *engine.Schedule) string {
	if s.TimeZone == "" {
		return "UTC"
	}
	return s.TimeZone
}

// Next is when the schedule fires next after t.
func Next(s *engine.Schedule, t time.Time) (time.Time, error) {
	if err := Check(s); err != nil {
		return time.Time{}, err
	}
	sched, _ := parser.Parse("CRON_TZ=" + zone(s) + " " + s.Cron)
	return sched.Next(t), nil
}

// Local fires schedules in this process (aos serve).
type Local struct {
	mu      sync.Mutex
	c       *cron.Cron
	entries map[string]cron.EntryID
	fire    func(ctx context.Context, stack string)
	ctx     context.Context
}

// NewLocal calls fire(stack) whenever a stack's schedule is due, until ctx ends.
func NewLocal(ctx context.Context, fire func(ctx context.Context, stack string)) *Local {
	l := &Local{c: cron.New(cron.WithParser(parser)), entries: map[string]cron.EntryID{}, fire: fire, ctx: ctx}
	l.c.Start()
	go func() { <-ctx.Done(); l.c.Stop() }()
	return l
}

// SetSchedule replaces a stack's schedule; nil removes it.
func (l *Local) SetSchedule(_ context.Context, stack string, s *engine.Schedule) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id, ok := l.entries[stack]; ok {
		l.c.Remove(id)
		delete(l.entries, stack)
	}
	if s == nil {
		return nil
	}
	if err := Check(s); err != nil {
		return err
	}
	id, err := l.c.AddFunc("CRON_TZ="+zone(s)+" "+s.Cron, func() { l.fire(l.ctx, stack) })
	if err != nil {
		return err
	}
	l.entries[stack] = id
	return nil
}

// AWSExpression translates a 5-field cron expression to EventBridge Scheduler's
// cron(minutes hours day-of-month month day-of-week year): one of the day fields must be
// "?", and days of the week count 1-7 from Sunday instead of 0-6.
func AWSExpression(expr string) (string, error) {
	if rest, ok := strings.CutPrefix(expr, "@every "); ok {
		d, err := time.ParseDuration(rest)
		if err != nil || d < time.Minute || d%time.Minute != 0 {
			return "", fmt.Errorf("cron %q: EventBridge Scheduler rates are whole minutes", expr)
		}
		unit := "minutes"
		if d == time.Minute {
			unit = "minute"
		}
		return fmt.Sprintf("rate(%d %s)", d/time.Minute, unit), nil
	}
	f := strings.Fields(expr)
	if len(f) != 5 {
		return "", fmt.Errorf("cron %q: expected 5 fields", expr)
	}
	if _, err := parser.Parse(expr); err != nil {
		return "", fmt.Errorf("cron %q: %v", expr, err)
	}
	dom, dow := f[2], f[4]
	switch {
	case dow == "*" || dow == "?":
		dow = "?"
	case dom == "*" || dom == "?":
		dom = "?"
		d, err := awsWeekdays(dow)
		if err != nil {
			return "", fmt.Errorf("cron %q: %v", expr, err)
		}
		dow = d
	default:
		return "", fmt.Errorf("cron %q: EventBridge Scheduler cannot fire on both a day of the month and a day of the week; use * for one of them", expr)
	}
	return fmt.Sprintf("cron(%s %s %s %s %s *)", f[0], f[1], dom, f[3], dow), nil
}

// awsWeekdays shifts numeric days of the week (0 or 7 = Sunday) to AWS's 1-7; names stay.
func awsWeekdays(field string) (string, error) {
	parts := strings.Split(field, ",")
	for i, p := range parts {
		step := ""
		if j := strings.Index(p, "/"); j >= 0 {
			p, step = p[:j], p[j:]
		}
		bounds := strings.Split(p, "-")
		for k, b := range bounds {
			n, err := strconv.Atoi(b)
			if err != nil {
				if len(b) == 3 { // MON, TUE, …
					continue
				}
				return "", fmt.Errorf("day of week %q", field)
			}
			if n == 7 {
				n = 0
			}
			bounds[k] = strconv.Itoa(n + 1)
		}
		parts[i] = strings.Join(bounds, "-") + step
	}
	return strings.Join(parts, ","), nil
}

// SchedulerAPI is what EventBridge needs of the EventBridge Scheduler client.
type SchedulerAPI interface {
	CreateSchedule(ctx context.Context, in *scheduler.CreateScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error)
	UpdateSchedule(ctx context.Context, in *scheduler.UpdateScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error)
	DeleteSchedule(ctx context.Context, in *scheduler.DeleteScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.DeleteScheduleOutput, error)
}

// EventBridge keeps one EventBridge Scheduler schedule per stack, which starts the stack
// state machine with {"stack": NAME, "operation": "rebuild"}.
type EventBridge struct {
	Client          SchedulerAPI
	StateMachineARN string
	RoleARN         string // the role the scheduler assumes to start executions
	Group           string // schedule group (infra/ creates "aos")
}

// Name is the schedule's name for a stack.
func Name(stack string) string { return "aos-rebuild-" + stack }

// CreateInput is the request that creates a stack's schedule.
func (e *EventBridge) CreateInput(stack string, s *engine.Schedule) (*scheduler.CreateScheduleInput, error) {
	expr, err := AWSExpression(s.Cron)
	if err != nil {
		return nil, err
	}
	if err := Check(s); err != nil {
		return nil, err
	}
	input, _ := json.Marshal(engine.OpRequest{Stack: stack, Operation: engine.OpRebuild, OnFailure: "keep"})
	return &scheduler.CreateScheduleInput{
		Name:                       aws.String(Name(stack)),
		GroupName:                  aws.String(e.Group),
		ScheduleExpression:         aws.String(expr),
		ScheduleExpressionTimezone: aws.String(zone(s)),
		FlexibleTimeWindow:         &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		State:                      types.ScheduleStateEnabled,
		Description:                aws.String("AOS: rebuild stack " + stack),
		Target: &types.Target{
			Arn:         aws.String(e.StateMachineARN),
			RoleArn:     aws.String(e.RoleARN),
			Input:       aws.String(string(input)),
			RetryPolicy: &types.RetryPolicy{MaximumRetryAttempts: aws.Int32(2), MaximumEventAgeInSeconds: aws.Int32(3600)},
		},
	}, nil
}

// SetSchedule creates, updates or (nil) deletes the stack's schedule.
func (e *EventBridge) SetSchedule(ctx context.Context, stack string, s *engine.Schedule) error {
	if s == nil {
		_, err := e.Client.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String(Name(stack)), GroupName: aws.String(e.Group)})
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	in, err := e.CreateInput(stack, s)
	if err != nil {
		return err
	}
	_, err = e.Client.CreateSchedule(ctx, in)
	var exists *types.ConflictException
	if errors.As(err, &exists) {
		_, err = e.Client.UpdateSchedule(ctx, &scheduler.UpdateScheduleInput{
			Name: in.Name, GroupName: in.GroupName, ScheduleExpression: in.ScheduleExpression,
			ScheduleExpressionTimezone: in.ScheduleExpressionTimezone, FlexibleTimeWindow: in.FlexibleTimeWindow,
			State: in.State, Description: in.Description, Target: in.Target,
		})
	}
	return err
}
