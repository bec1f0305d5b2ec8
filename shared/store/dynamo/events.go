package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aos-project/aos/shared/engine"
)

// Events. An item holds a page of consecutive events: SK "EVENT#<first seq:020d>", the
// events in "events" (a JSON array), their count in "n". (Items written before pages hold
// one event each, in "data"; both are read.)
//
// The write numbers the events: a page goes to the key right after the stack's last event,
// on condition that no item has that key. One request numbers and stores a turn's events;
// with a counter item it took two (an ADD, then the put), and a reader could see event n+1
// before event n was written and step over n. Here a page can only be written once the page
// before it is, so events appear in order, with no gaps.
//
// The stack's last sequence number is remembered per store; another writer (another Lambda)
// makes it stale, and then the conditional write fails, the store reads the last page's key
// (one consistent Query of one item) and tries again.

// Pages are small, so that reading the last one to learn the next number costs little.
const (
	eventsPerPage = 25
	pageBytes     = 32 << 10
)

func eventKey(seq int64) string { return fmt.Sprintf("EVENT#%020d", seq) }

// lastSeqs remembers each stack's last event number as this store last wrote or read it.
type lastSeqs struct {
	mu   sync.Mutex
	last map[string]int64
}

func (l *lastSeqs) get(stack string) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, ok := l.last[stack]
	return n, ok
}

func (l *lastSeqs) set(stack string, n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]int64{}
	}
	l.last[stack] = n
}

func (l *lastSeqs) forget(stack string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.last, stack)
}

func (s *Store) AppendEvent(ctx context.Context, e *engine.Event) error {
	return s.appendEvents(ctx, e.Stack, []*engine.Event{e})
}

// AppendEvents appends events in order, a page (up to 25 events) per request.
func (s *Store) AppendEvents(ctx context.Context, evs []*engine.Event) error {
	for _, stack := range stacksOf(evs) {
		var mine []*engine.Event
		for _, e := range evs {
			if e.Stack == stack {
				mine = append(mine, e)
			}
		}
		if err := s.appendEvents(ctx, stack, mine); err != nil {
			return err
		}
	}
	return nil
}

func stacksOf(evs []*engine.Event) []string {
	var out []string
	for _, e := range evs {
		if !slices.Contains(out, e.Stack) {
			out = append(out, e.Stack)
		}
	}
	return out
}

func (s *Store) appendEvents(ctx context.Context, stack string, evs []*engine.Event) error {
	for len(evs) > 0 {
		page, size := 1, 0
		for page < len(evs) && page < eventsPerPage {
			b, err := json.Marshal(evs[page])
			if err != nil {
				return err
			}
			if size += len(b); size > pageBytes {
				break
			}
			page++
		}
		if err := s.appendPage(ctx, stack, evs[:page]); err != nil {
			return err
		}
		evs = evs[page:]
	}
	return nil
}

// racingWriters bounds the tries of a page whose key others keep taking first.
const racingWriters = 16

func (s *Store) appendPage(ctx context.Context, stack string, page []*engine.Event) error {
	for try := 0; try < racingWriters; try++ {
		last, err := s.lastSeq(ctx, stack)
		if err != nil {
			return err
		}
		for i, e := range page {
			e.Seq = last + 1 + int64(i)
		}
		data, err := json.Marshal(page)
		if err != nil {
			return err
		}
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.table),
			Item: map[string]types.AttributeValue{
				"PK": pk(stack), "SK": sk(eventKey(last + 1)),
				"events": &types.AttributeValueMemberS{Value: string(data)},
				"n":      &types.AttributeValueMemberN{Value: strconv.Itoa(len(page))},
			},
			ConditionExpression: aws.String("attribute_not_exists(SK)"),
		})
		var taken *types.ConditionalCheckFailedException
		if errors.As(err, &taken) {
			s.seqs.forget(stack)
			continue
		}
		if err != nil {
			return fmt.Errorf("dynamodb put events %s/%d: %w", stack, last+1, err)
		}
		s.seqs.set(stack, last+int64(len(page)))
		return nil
	}
	return fmt.Errorf("dynamodb put events %s: the next event number was taken %d times in a row by other writers", stack, racingWriters)
}

// lastSeq is the stack's last event number: remembered, else read from the last page's key
// and count (0: no events yet).
func (s *Store) lastSeq(ctx context.Context, stack string) (int64, error) {
	if n, ok := s.seqs.get(stack); ok {
		return n, nil
	}
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("PK = :pk AND SK BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": pk(stack), ":from": sk("EVENT#"), ":to": sk("EVENT$")},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(1),
		ProjectionExpression:      aws.String("SK, #n"),
		ExpressionAttributeNames:  map[string]string{"#n": "n"},
	})
	if err != nil {
		return 0, fmt.Errorf("dynamodb last event of %s: %w", stack, err)
	}
	var last int64
	if len(out.Items) == 1 {
		first, n, err := pageRange(out.Items[0])
		if err != nil {
			return 0, err
		}
		last = first + n - 1
	}
	s.seqs.set(stack, last)
	return last, nil
}

// pageRange is an event item's first sequence number and how many events it holds.
func pageRange(item map[string]types.AttributeValue) (first, n int64, err error) {
	key, _ := item["SK"].(*types.AttributeValueMemberS)
	if key == nil {
		return 0, 0, errors.New("dynamodb event item without a sort key")
	}
	if first, err = strconv.ParseInt(strings.TrimPrefix(key.Value, "EVENT#"), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("dynamodb event item %q: %w", key.Value, err)
	}
	n = 1
	if c, ok := item["n"].(*types.AttributeValueMemberN); ok {
		if n, err = strconv.ParseInt(c.Value, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("dynamodb event item %q: count %q: %w", key.Value, c.Value, err)
		}
	}
	return first, n, nil
}

// ListEvents reads from the page that may hold event after+1 (one starting up to a page's
// length before it) and returns the events after after, at most limit of them.
func (s *Store) ListEvents(ctx context.Context, stack string, after int64, limit int) ([]*engine.Event, error) {
	var out []*engine.Event
	from := max(after+1-(eventsPerPage-1), 0)
	items := 0
	if limit > 0 {
		// At most eventsPerPage-1 items start at or before after (pages of one event, older
		// than pages), and every other item holds at least one event that is returned.
		items = limit + eventsPerPage
	}
	err := s.queryN(ctx, stack, eventKey(from), "EVENT$", items, func(item map[string]types.AttributeValue) error {
		var page []*engine.Event
		if v, ok := item["events"].(*types.AttributeValueMemberS); ok {
			if err := json.Unmarshal([]byte(v.Value), &page); err != nil {
				return fmt.Errorf("dynamodb events of %s: %w", stack, err)
			}
		} else {
			var e engine.Event
			if err := s.decode(ctx, stack, item, &e); err != nil {
				return err
			}
			page = []*engine.Event{&e}
		}
		for _, e := range page {
			if e.Seq > after && (limit <= 0 || len(out) < limit) {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}
