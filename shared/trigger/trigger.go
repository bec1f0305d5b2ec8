// Package trigger turns events into batches: SQS messages and EventBridge events whose body
// (or detail) is a batch request, as POST /v1/batches takes it. A malformed message is never
// dropped silently: its reason is logged and it is reported as failed, so SQS redelivers it
// and finally moves it to the dead-letter queue.
package trigger

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"

	"github.com/aos-project/aos/shared/api"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/template"
)

// Batcher starts a batch whose instances are recorded already (api.Runner does).
type Batcher interface {
	StartBatch(ctx context.Context, in *engine.BatchInput) error
}

// What a batch event must say about itself. The EventBridge rule (infra/template.yaml)
// matches only Source and DetailType, on the event bus the stack creates for batch requests
// (not the account's default bus, where anyone allowed events:PutEvents could write); the
// handler checks both again.
const (
	Source     = "aos.batch"
	DetailType = "AOS Batch Request"
)

// Identities a project lists to admit batches from each channel: the EventBridge source, and
// an SQS queue by its ARN ("sqs:arn:aws:sqs:…"). Who may write to either is IAM's to say; which
// projects they may create stacks in is the project's.
func eventIdentity(source string) string { return "eventbridge:" + source }
func queueIdentity(arn string) string    { return "sqs:" + arn }

// SecretReader reads a Secrets Manager secret's SecretString (GetSecretValue).
type SecretReader interface {
	SecretString(ctx context.Context, arn string) (string, error)
}

// SecretRef is how a batch message gives a secret input: the ARN of a Secrets Manager secret
// holding the value, never the value itself, which SQS and EventBridge would carry, retry and
// dead-letter in plain text.
const SecretRef = "secretsManager"

// Handler submits batches and starts them.
type Handler struct {
	Engine  *engine.Engine
	Batcher Batcher
	// Secrets reads the secrets that batch messages name; nil refuses messages with secret
	// inputs.
	Secrets SecretReader
}

// Handle takes an SQS event (answering with the messages that failed) or an EventBridge
// event (answering with an error when it fails, so Lambda retries it and then sends it to the
// function's dead-letter queue).
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Records    []struct{ EventSource string } `json:"Records"`
		DetailType string                         `json:"detail-type"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("event is not JSON: %w", err)
	}
	switch {
	case len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:sqs":
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("SQS event: %w", err)
		}
		return h.sqs(ctx, ev), nil
	case probe.DetailType != "":
		var ev events.EventBridgeEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("EventBridge event: %w", err)
		}
		var id string
		err := fmt.Errorf("source %q, detail-type %q: only %q events of type %q request batches", ev.Source, ev.DetailType, Source, DetailType)
		if ev.Source == Source && ev.DetailType == DetailType {
			id, err = h.batch(engine.WithActor(ctx, eventIdentity(ev.Source)), ev.Detail)
		}
		if err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Str("event", ev.ID).Str("source", ev.Source).Msg("batch request refused")
			return nil, fmt.Errorf("event %s: %w", ev.ID, err)
		}
		zerolog.Ctx(ctx).Info().Str("event", ev.ID).Str("batch", id).Msg("batch started")
		return map[string]string{"batch": id}, nil
	}
	return nil, errors.New("neither an SQS nor an EventBridge event")
}

func (h *Handler) sqs(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, m := range ev.Records {
		id, err := h.batch(engine.WithActor(ctx, queueIdentity(m.EventSourceARN)), json.RawMessage(m.Body))
		if err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Str("message", m.MessageId).
				Str("receiveCount", m.Attributes["ApproximateReceiveCount"]).Msg("batch request refused; SQS redelivers it, then moves it to the dead-letter queue")
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			continue
		}
		zerolog.Ctx(ctx).Info().Str("message", m.MessageId).Str("batch", id).Msg("batch started")
	}
	return resp
}

// batch submits one batch request and starts it.
func (h *Handler) batch(ctx context.Context, body json.RawMessage) (string, error) {
	var b api.BatchBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return "", fmt.Errorf("malformed batch request: %w", err)
	}
	if b.Template == "" || b.Prefix == "" || b.Project == "" {
		return "", errors.New("malformed batch request: template, prefix and project are required")
	}
	req := b.Request()
	if err := h.secretInputs(ctx, &req.TemplateRequest); err != nil {
		return "", err
	}
	in, err := h.Engine.SubmitBatch(ctx, req)
	if err != nil {
		return "", err
	}
	if err := h.Batcher.StartBatch(ctx, in); err != nil {
		return "", err
	}
	return in.Batch, nil
}

// secretInputs replaces each secret input's {"secretsManager": ARN} with the secret's value,
// typed by the input's schema as `-p` values are, and refuses a secret input given in plain
// text.
func (h *Handler) secretInputs(ctx context.Context, req *engine.TemplateRequest) error {
	t, _ := template.Parse(cmp.Or(req.File, "template.yaml"), []byte(req.Template))
	if t == nil {
		return nil // SubmitBatch reports the template's problems
	}
	for name, v := range req.Params {
		in := t.Input(name)
		if in == nil || !in.Secret {
			continue
		}
		ref, _ := v.(map[string]any)
		arn, _ := ref[SecretRef].(string)
		if len(ref) != 1 || arn == "" {
			return fmt.Errorf("secret input %q is given in plain text: a batch message may not carry secrets (SQS and EventBridge keep them); store it in Secrets Manager and pass {%q: \"<secret ARN>\"}", name, SecretRef)
		}
		if h.Secrets == nil {
			return fmt.Errorf("secret input %q names a Secrets Manager secret, and this trigger reads none", name)
		}
		val, err := h.Secrets.SecretString(ctx, arn)
		if err != nil {
			return fmt.Errorf("secret input %q: %w", name, err)
		}
		delete(req.Params, name)
		if req.RawParams == nil {
			req.RawParams = map[string]string{}
		}
		req.RawParams[name] = val
	}
	return nil
}
