package dynamo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/store/storetest"
)

// EndpointEnv points the tests at a DynamoDB-API server; `make test` starts DynamoDB Local for it.
const EndpointEnv = "AOS_TEST_DYNAMODB_ENDPOINT"

var tables atomic.Int64

func dynamoLocal(t *testing.T) *dynamodb.Client {
	t.Helper()
	ep := os.Getenv(EndpointEnv)
	if ep == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which starts DynamoDB Local, or `eval $(hack/dynamodb.sh up)` before `go test`", EndpointEnv)
	}
	return dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(ep),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

func TestConformance(t *testing.T) {
	db := dynamoLocal(t)
	storetest.Run(t, func(t *testing.T) engine.Store {
		return New(db, newTable(t, db))
	})
}

// A record over one item's size is stored as a blob: the item names it, its parts hold it,
// and a part gone missing is an error that says so, never a truncated record.
func TestLargeRecordsAreBlobs(t *testing.T) {
	db := dynamoLocal(t)
	ctx := context.Background()
	table := newTable(t, db)
	s := New(db, table)
	big := strings.Repeat("0123456789abcdef", MaxItemBytes/8) // two items' worth
	n := &engine.NodeRecord{Stack: "s", ID: "n", Message: big}
	if err := s.PutNode(ctx, n, 0); err != nil || n.Version != 1 {
		t.Fatalf("large node: %v (version %d)", err, n.Version)
	}
	item, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"PK": pk("s"), "SK": sk("NODE#n")}})
	if err != nil || item.Item["data"] != nil || item.Item["blob"] == nil {
		t.Fatalf("the node's item: %v %v", err, item.Item)
	}
	digest := item.Item["blob"].(*types.AttributeValueMemberS).Value
	if got, err := s.GetNode(ctx, "s", "n"); err != nil || got.Message != big {
		t.Fatalf("read back: %v", err)
	}
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"PK": pk("s"), "SK": sk(blobKey(digest, 1))}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetNode(ctx, "s", "n"); err == nil || !strings.Contains(err.Error(), "missing or damaged") {
		t.Fatalf("a part missing: %v", err)
	}
}

// A group of node records larger than one transaction may carry (4 MB) is refused whole by
// DynamoDB: the engine then writes its records one by one.
func TestAGroupTooLargeForOneRequestIsRefusedWhole(t *testing.T) {
	db := dynamoLocal(t)
	ctx := context.Background()
	table := newTable(t, db)
	s := New(db, table)
	var group []*engine.NodeRecord
	for i := range 12 { // 12 items of 350 KB: 4.2 MB, every item under 400 KB
		group = append(group, &engine.NodeRecord{Stack: "s", ID: fmt.Sprint(i), Message: strings.Repeat("m", 350<<10)})
	}
	err := s.PutNodes(ctx, group)
	if err == nil || errors.Is(err, engine.ErrVersionConflict) {
		t.Fatalf("a 4.2 MB group: %v, want a refusal that is not a conflict", err)
	}
	nodes, lerr := s.ListNodes(ctx, "s")
	if lerr != nil || len(nodes) != 0 || group[0].Version != 0 {
		t.Fatalf("after the refusal: %d records stored (%v), version %d; want none", len(nodes), lerr, group[0].Version)
	}
	t.Log(err)
}

// A large template is stored once, however many records carry it: the stack record (its
// template and the last good revision's) and the revision records name it by digest.
func TestALargeTemplateIsStoredOnce(t *testing.T) {
	db := dynamoLocal(t)
	ctx := context.Background()
	table := newTable(t, db)
	s := New(db, table)
	tpl := strings.Repeat("# a line of a large template\n", 40_000) // 1.1 MiB: 4 parts
	r := &engine.StackRecord{Name: "s", Namespace: "s", Template: tpl, Previous: &engine.Revision{Number: 1, Template: tpl}}
	if err := s.PutStack(ctx, r, 0); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 3; n++ {
		if err := s.PutRevision(ctx, "s", &engine.Revision{Number: n, Template: tpl}); err != nil {
			t.Fatal(err)
		}
	}
	if r.Template != tpl {
		t.Fatal("PutStack changed the caller's record")
	}
	parts := 0
	var itemBytes int
	err := s.query(ctx, "s", "!", "~", func(item map[string]types.AttributeValue) error {
		key := item["SK"].(*types.AttributeValueMemberS).Value
		if strings.HasPrefix(key, "BLOB#") {
			parts++
		} else if d, ok := item["data"].(*types.AttributeValueMemberS); ok {
			itemBytes = max(itemBytes, len(d.Value))
		}
		return nil
	})
	if err != nil || parts != (len(tpl)+blobPart-1)/blobPart || itemBytes > 4<<10 {
		t.Fatalf("%d blob parts (want one copy: %d), largest record item %d bytes, %v", parts, (len(tpl)+blobPart-1)/blobPart, itemBytes, err)
	}
	fresh := New(db, table) // another process: nothing cached
	got, err := fresh.GetStack(ctx, "s")
	revs, rerr := fresh.ListRevisions(ctx, "s")
	if err != nil || rerr != nil || got.Template != tpl || got.Previous.Template != tpl || len(revs) != 3 || revs[2].Template != tpl {
		t.Fatalf("read back: %v %v", err, rerr)
	}
}

// A table written before the stacks index: its stack records lack the index's keys until
// IndexStacks gives them, once.
func TestIndexStacksListsOlderRecords(t *testing.T) {
	db := dynamoLocal(t)
	ctx := context.Background()
	table := newTable(t, db)
	s := New(db, table)
	if err := s.PutStack(ctx, &engine.StackRecord{Name: "new"}, 0); err != nil {
		t.Fatal(err)
	}
	// As the previous version wrote it: the same item without LIST and NAME.
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "STACK#old"}, "SK": &types.AttributeValueMemberS{Value: "STACK"},
		"version": &types.AttributeValueMemberN{Value: "1"}, "data": &types.AttributeValueMemberS{Value: `{"name":"old","version":1}`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	names := func() string {
		page, err := s.PageStacks(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, st := range page {
			out = append(out, st.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names(); got != "new" {
		t.Fatalf("before: %s", got)
	}
	for range 2 {
		if err := s.IndexStacks(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := names(); got != "new,old" {
		t.Fatalf("after IndexStacks: %s", got)
	}
}
