// Package dynamo is the DynamoDB state store: one table (on-demand), every write a
// conditional write on a version attribute: of one item, or of a group of node records in
// one transaction (PutNodes).
//
// Items, all under the stack's partition key PK = "STACK#<name>":
//
//	SK "STACK"             the stack record
//	SK "NODE#<id>"         one node record
//	SK "EVENT#<seq:020d>"  a page of events from seq on (events.go)
//	SK "REV#<n:010d>"      one revision (template and inputs, secrets sealed)
//	SK "BLOB#<sha256>#<i>" part i of a record too large for one item (blob.go)
package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aos-project/aos/shared/engine"
)

// MaxItemBytes keeps records under DynamoDB's 400 KB item limit with room for the keys.
const MaxItemBytes = 380 << 10

// Store is a DynamoDB-backed engine.Store.
type Store struct {
	db        *dynamodb.Client
	table     string
	templates templateCache
	seqs      lastSeqs
}

var _ engine.Store = (*Store)(nil)

// New uses an existing table.
func New(db *dynamodb.Client, table string) *Store { return &Store{db: db, table: table} }

// CreateTable creates the table (on-demand) if it does not exist and waits until it is
// active. infra/ creates it in production; this is for local runs and tests.
func CreateTable(ctx context.Context, db *dynamodb.Client, table string) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("PK"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("SK"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(listAttr), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(nameAttr), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("PK"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("SK"), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(StacksIndex),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(listAttr), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(nameAttr), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	})
	var exists *types.ResourceInUseException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("creating table %s: %w", table, err)
	}
	// The waiter's default first delay is 20 s; a new on-demand table is usually active in one.
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 5*time.Second
	})
	return w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute)
}

// Stack records carry listAttr (always listValue) and nameAttr (the stack's name), keys of
// the StacksIndex global secondary index: the list route pages through stacks by name with
// a Query of it, never a Scan of the table. (infra/template.yaml declares the same index.)
const (
	StacksIndex = "stacks"
	listAttr    = "LIST"
	nameAttr    = "NAME"
	listValue   = "STACK"
)

func pk(stack string) types.AttributeValue {
	return &types.AttributeValueMemberS{Value: "STACK#" + stack}
}
func sk(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func (s *Store) getItem(ctx context.Context, stack, key string, v any) error {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"PK": pk(stack), "SK": sk(key)},
	})
	if err != nil {
		return fmt.Errorf("dynamodb get %s/%s: %w", stack, key, err)
	}
	if out.Item == nil {
		return engine.ErrNotFound
	}
	return s.decode(ctx, stack, out.Item, v)
}

// decode reads an item's record: its data, or the blob its data was moved to.
func (s *Store) decode(ctx context.Context, stack string, item map[string]types.AttributeValue, v any) error {
	if blob, ok := item["blob"].(*types.AttributeValueMemberS); ok {
		data, err := s.readBlob(ctx, stack, blob.Value)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, v); err != nil {
			return err
		}
		return s.inline(ctx, stack, item, v)
	}
	data, ok := item["data"].(*types.AttributeValueMemberS)
	if !ok {
		return errors.New("dynamodb item without data")
	}
	if err := json.Unmarshal([]byte(data.Value), v); err != nil {
		return err
	}
	return s.inline(ctx, stack, item, v)
}

// putVersioned writes v if the item's version equals expect (0: the item must not exist).
func (s *Store) putVersioned(ctx context.Context, stack, key string, expect int64, v any, setVersion func(int64)) error {
	put, err := s.versioned(ctx, stack, key, expect, v, setVersion)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: put.TableName, Item: put.Item,
		ConditionExpression: put.ConditionExpression, ExpressionAttributeValues: put.ExpressionAttributeValues,
	})
	var cond *types.ConditionalCheckFailedException
	if errors.As(err, &cond) {
		setVersion(expect)
		return fmt.Errorf("%w (%s/%s, expected version %d)", engine.ErrVersionConflict, stack, key, expect)
	}
	if err != nil {
		setVersion(expect)
		return fmt.Errorf("dynamodb put %s/%s: %w", stack, key, err)
	}
	return nil
}

// versioned is the conditional put of v at version expect+1, which it sets (and, on an
// error, sets back): the item must not exist (expect 0) or have version expect.
func (s *Store) versioned(ctx context.Context, stack, key string, expect int64, v any, setVersion func(int64)) (*types.Put, error) {
	setVersion(expect + 1)
	out, tpls, err := s.outline(ctx, stack, v)
	if err != nil {
		setVersion(expect)
		return nil, err
	}
	data, err := json.Marshal(out)
	if err != nil {
		setVersion(expect)
		return nil, err
	}
	body, err := s.body(ctx, stack, data)
	if err != nil {
		setVersion(expect)
		return nil, err
	}
	maps.Copy(body, tpls)
	body["PK"], body["SK"] = pk(stack), sk(key)
	if key == "STACK" {
		body[listAttr], body[nameAttr] = sk(listValue), sk(stack)
	}
	body["version"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(expect+1, 10)}
	put := &types.Put{TableName: aws.String(s.table), Item: body}
	if expect == 0 {
		put.ConditionExpression = aws.String("attribute_not_exists(PK)")
	} else {
		put.ConditionExpression = aws.String("version = :v")
		put.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(expect, 10)}}
	}
	return put, nil
}

func (s *Store) GetStack(ctx context.Context, name string) (*engine.StackRecord, error) {
	var r engine.StackRecord
	if err := s.getItem(ctx, name, "STACK", &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ListStacks scans for stack records. Stacks are few next to nodes and events; a scan with a
// filter is fine for listing, and keeps the table free of secondary indexes.
func (s *Store) ListStacks(ctx context.Context) ([]*engine.StackRecord, error) {
	var out []*engine.StackRecord
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true),
		FilterExpression:          aws.String("SK = :sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":sk": sk("STACK")},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("dynamodb scan for stacks: %w", err)
		}
		for _, item := range page.Items {
			var r engine.StackRecord
			stack, _ := item["PK"].(*types.AttributeValueMemberS)
			if stack == nil {
				continue
			}
			if err := s.decode(ctx, strings.TrimPrefix(stack.Value, "STACK#"), item, &r); err != nil {
				return nil, err
			}
			out = append(out, &r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PageStacks queries StacksIndex. An index is eventually consistent: a stack recorded a
// moment ago may be missing from the page (GetStack reads it at once).
func (s *Store) PageStacks(ctx context.Context, after string, limit int) ([]*engine.StackRecord, error) {
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.table), IndexName: aws.String(StacksIndex),
		KeyConditionExpression:    aws.String("#l = :l"),
		ExpressionAttributeNames:  map[string]string{"#l": listAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":l": sk(listValue)},
		Limit:                     aws.Int32(int32(max(1, min(limit, 1000)))),
	}
	if after != "" {
		// A key's value may not be empty: the first page has no range condition.
		in.KeyConditionExpression = aws.String("#l = :l AND #n > :after")
		in.ExpressionAttributeNames["#n"], in.ExpressionAttributeValues[":after"] = nameAttr, sk(after)
	}
	var out []*engine.StackRecord
	p := dynamodb.NewQueryPaginator(s.db, in)
	for p.HasMorePages() && len(out) < limit {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("dynamodb query of index %s: %w", StacksIndex, err)
		}
		for _, item := range page.Items {
			name, _ := item[nameAttr].(*types.AttributeValueMemberS)
			if name == nil || len(out) == limit {
				continue
			}
			var r engine.StackRecord
			if err := s.decode(ctx, name.Value, item, &r); err != nil {
				return nil, err
			}
			out = append(out, &r)
		}
	}
	return out, nil
}

// IndexStacks gives StacksIndex's keys to stack records written before the index existed,
// once per table (a marker item remembers): an upgraded deployment lists every stack.
func (s *Store) IndexStacks(ctx context.Context) error {
	marker := map[string]types.AttributeValue{"PK": sk("META"), "SK": sk("stacks-indexed")}
	got, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: marker, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("dynamodb get %s: %w", StacksIndex, err)
	}
	if got.Item != nil {
		return nil
	}
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("PK"),
		FilterExpression:          aws.String("SK = :sk AND attribute_not_exists(#l)"),
		ExpressionAttributeNames:  map[string]string{"#l": listAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":sk": sk("STACK")},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("dynamodb scan for unindexed stacks: %w", err)
		}
		for _, item := range page.Items {
			key, _ := item["PK"].(*types.AttributeValueMemberS)
			if key == nil {
				continue
			}
			_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: aws.String(s.table), Key: map[string]types.AttributeValue{"PK": key, "SK": sk("STACK")},
				UpdateExpression:          aws.String("SET #l = :l, #n = :n"),
				ConditionExpression:       aws.String("attribute_exists(PK)"),
				ExpressionAttributeNames:  map[string]string{"#l": listAttr, "#n": nameAttr},
				ExpressionAttributeValues: map[string]types.AttributeValue{":l": sk(listValue), ":n": sk(strings.TrimPrefix(key.Value, "STACK#"))},
			})
			var gone *types.ConditionalCheckFailedException
			if err != nil && !errors.As(err, &gone) {
				return fmt.Errorf("dynamodb index stack %s: %w", key.Value, err)
			}
		}
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: marker})
	return err
}

// DeleteStack deletes the stack's nodes one item at a time, then the stack record (so a
// crash midway leaves a stack whose deletion can be repeated).
func (s *Store) DeleteStack(ctx context.Context, name string) error {
	var keys []string
	err := s.query(ctx, name, "NODE#", "NODE$", func(item map[string]types.AttributeValue) error {
		if k, ok := item["SK"].(*types.AttributeValueMemberS); ok {
			keys = append(keys, k.Value)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range append(keys, "STACK") {
		_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table),
			Key: map[string]types.AttributeValue{"PK": pk(name), "SK": sk(k)}})
		if err != nil {
			return fmt.Errorf("dynamodb delete %s/%s: %w", name, k, err)
		}
	}
	return nil
}

func (s *Store) PutStack(ctx context.Context, r *engine.StackRecord, expect int64) error {
	return s.putVersioned(ctx, r.Name, "STACK", expect, r, func(v int64) { r.Version = v })
}

func (s *Store) GetNode(ctx context.Context, stack, id string) (*engine.NodeRecord, error) {
	var r engine.NodeRecord
	if err := s.getItem(ctx, stack, "NODE#"+id, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *Store) PutNode(ctx context.Context, r *engine.NodeRecord, expect int64) error {
	return s.putVersioned(ctx, r.Stack, "NODE#"+r.ID, expect, r, func(v int64) { r.Version = v })
}

// PutNodes is one TransactWriteItems request: every put conditional on its record's version,
// all or none. A transaction's items cost twice the write capacity of single puts; what it
// saves is requests and round trips. (More than 100 items, or 4 MB, is refused by DynamoDB
// with a ValidationException: the engine writes at most engine.MaxNodesPerWrite at once.)
// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
func (s *Store) PutNodes(ctx context.Context, nodes []*engine.NodeRecord) error {
	expect := make([]int64, len(nodes))
	for i, n := range nodes {
		expect[i] = n.Version
	}
	undo := func() {
		for i, n := range nodes {
			n.Version = expect[i]
		}
	}
	items := make([]types.TransactWriteItem, len(nodes))
	for i, n := range nodes {
		put, err := s.versioned(ctx, n.Stack, "NODE#"+n.ID, expect[i], n, func(v int64) { n.Version = v })
		if err != nil {
			undo()
			return fmt.Errorf("node %s/%s: %w", n.Stack, n.ID, err)
		}
		items[i] = types.TransactWriteItem{Put: put}
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err == nil {
		return nil
	}
	undo()
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &cancelled) {
		// Reasons are in the order of the items; "None" marks one that would have succeeded.
		var stale []string
		for i, r := range cancelled.CancellationReasons {
			if i < len(nodes) && aws.ToString(r.Code) == "ConditionalCheckFailed" {
				stale = append(stale, fmt.Sprintf("%s/%s (expected version %d)", nodes[i].Stack, nodes[i].ID, expect[i]))
			}
		}
		if len(stale) > 0 {
			return fmt.Errorf("%w: %s; none of the %d records written", engine.ErrVersionConflict, strings.Join(stale, ", "), len(nodes))
		}
	}
	return fmt.Errorf("dynamodb write of %d node records: %w", len(nodes), err)
}

// query pages through the items of a stack whose sort keys lie in [from, to].
func (s *Store) query(ctx context.Context, stack, from, to string, each func(map[string]types.AttributeValue) error) error {
	return s.queryN(ctx, stack, from, to, 0, each)
}

// queryN is query for at most limit items (limit <= 0: all), read in pages of at most limit.
func (s *Store) queryN(ctx context.Context, stack, from, to string, limit int, each func(map[string]types.AttributeValue) error) error {
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("PK = :pk AND SK BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": pk(stack), ":from": sk(from), ":to": sk(to),
		},
	}
	if limit > 0 {
		in.Limit = aws.Int32(int32(min(limit, 1<<20)))
	}
	p := dynamodb.NewQueryPaginator(s.db, in)
	n := 0
	for p.HasMorePages() && (limit <= 0 || n < limit) {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("dynamodb query %s: %w", stack, err)
		}
		for _, item := range page.Items {
			if limit > 0 && n == limit {
				break
			}
			n++
			if err := each(item); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) ListNodes(ctx context.Context, stack string) ([]*engine.NodeRecord, error) {
	var out []*engine.NodeRecord
	// '$' sorts right after '#': every "NODE#…" key lies between these two.
	err := s.query(ctx, stack, "NODE#", "NODE$", func(item map[string]types.AttributeValue) error {
		var r engine.NodeRecord
		if err := s.decode(ctx, stack, item, &r); err != nil {
			return err
		}
		out = append(out, &r)
		return nil
	})
	return out, err
}

func revKey(n int) string { return fmt.Sprintf("REV#%010d", n) }

// PutRevision overwrites: only the lease holder writes a stack's revisions.
func (s *Store) PutRevision(ctx context.Context, stack string, r *engine.Revision) error {
	out, tpls, err := s.outline(ctx, stack, r)
	if err != nil {
		return err
	}
	data, err := json.Marshal(out)
	if err != nil {
		return err
	}
	body, err := s.body(ctx, stack, data)
	if err != nil {
		return err
	}
	maps.Copy(body, tpls)
	body["PK"], body["SK"] = pk(stack), sk(revKey(r.Number))
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: body})
	if err != nil {
		return fmt.Errorf("dynamodb put revision %s/%d: %w", stack, r.Number, err)
	}
	return nil
}

func (s *Store) ListRevisions(ctx context.Context, stack string) ([]*engine.Revision, error) {
	var out []*engine.Revision
	err := s.query(ctx, stack, "REV#", "REV$", func(item map[string]types.AttributeValue) error {
		var r engine.Revision
		if err := s.decode(ctx, stack, item, &r); err != nil {
			return err
		}
		out = append(out, &r)
		return nil
	})
	return out, err
}

// Client returns a DynamoDB client from the usual AWS configuration (environment, shared
// files, the Lambda role). endpoint, when set, points it elsewhere (DynamoDB Local, LocalStack).
func Client(ctx context.Context, endpoint string) (*dynamodb.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}
