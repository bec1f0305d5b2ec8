package dynamo

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aos-project/aos/shared/engine"
)

// newTable creates a table of the test's own in DynamoDB Local, deleted when the test ends.
func newTable(t *testing.T, db *dynamodb.Client) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	table := fmt.Sprintf("aos-test-%d-%d", time.Now().UnixNano(), tables.Add(1))
	if err := CreateTable(ctx, db, table); err != nil {
		t.Fatalf("creating table in DynamoDB Local at %s: %v", os.Getenv(EndpointEnv), err)
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	return table
}

// Writers in different processes (two stores on one table: two Lambdas) each remember a
// stale last number; their appends still take every number once, with no gap, and a reader
// gets them all, in order, however it pages.
func TestEventNumbersFromRacingWriters(t *testing.T) {
	db := dynamoLocal(t)
	table := newTable(t, db)
	stores := []*Store{New(db, table), New(db, table)}
	ctx := context.Background()
	var wg sync.WaitGroup
	const writers, rounds = 4, 6
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%2]
			for r := range rounds {
				// Batches of 1, 2, 30 (two pages) events.
				n := []int{1, 2, 30}[(w+r)%3]
				evs := make([]*engine.Event, n)
				for i := range evs {
					evs[i] = &engine.Event{Stack: "race", Node: fmt.Sprintf("w%d-r%d-%d", w, r, i), Status: "READY"}
				}
				if err := s.AppendEvents(ctx, evs); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	all, err := stores[0].ListEvents(ctx, "race", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := writers * rounds * 11 // each writer's rounds: 1+2+30 twice
	if len(all) != want {
		t.Fatalf("%d events listed, want %d", len(all), want)
	}
	for i, e := range all {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has number %d: numbers must be dense and in order", i, e.Seq)
		}
	}
	// A batch keeps its order.
	pos := map[string]int64{}
	for _, e := range all {
		pos[e.Node] = e.Seq
	}
	if pos["w0-r2-0"] >= pos["w0-r2-29"] {
		t.Fatalf("a batch's events out of order: %d, %d", pos["w0-r2-0"], pos["w0-r2-29"])
	}
	// Paging from inside a page, with a limit, by the other store.
	var got []*engine.Event
	for after := int64(0); ; {
		evs, err := stores[1].ListEvents(ctx, "race", after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		if len(evs) > 7 {
			t.Fatalf("limit 7, %d events", len(evs))
		}
		got, after = append(got, evs...), evs[len(evs)-1].Seq
	}
	if len(got) != want {
		t.Fatalf("paging by 7 gave %d events, want %d", len(got), want)
	}
}

// Tables written before pages hold one event per item, in "data", numbered by a counter
// item: they are read, and new events go on after the last of them.
func TestEventsBeforePages(t *testing.T) {
	db := dynamoLocal(t)
	table := newTable(t, db)
	ctx := context.Background()
	for seq := int64(1); seq <= 30; seq++ {
		data, _ := json.Marshal(&engine.Event{Stack: "old", Seq: seq, Status: "READY", Node: fmt.Sprint("n", seq)})
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
			"PK": pk("old"), "SK": sk(eventKey(seq)), "data": &types.AttributeValueMemberS{Value: string(data)},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	s := New(db, table)
	e := &engine.Event{Stack: "old", Status: "DELETE_COMPLETE"}
	if err := s.AppendEvent(ctx, e); err != nil || e.Seq != 31 {
		t.Fatalf("appended after 30 old events: %v, number %d", err, e.Seq)
	}
	evs, err := s.ListEvents(ctx, "old", 28, 3)
	if err != nil || len(evs) != 3 || evs[0].Seq != 29 || evs[2].Seq != 31 || evs[2].Status != "DELETE_COMPLETE" {
		t.Fatalf("after 28, limit 3: %v %v", evs, err)
	}
}
