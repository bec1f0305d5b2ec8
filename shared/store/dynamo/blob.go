package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A DynamoDB item holds at most 400 KB, but a template may be 4 MiB, and a stack record
// holds its template and the last good revision's. A record over MaxItemBytes is moved to a
// blob: parts of at most blobPart bytes under SK "BLOB#<sha256 of the record>#<i>", in the
// stack's partition, and the record's item holds the digest instead of the data. The parts
// are written first, unconditionally (a digest names one content, so writing it twice is
// harmless), then the item, conditionally as any other: a writer that loses the race
// leaves parts nothing names, never an item that names missing parts. Blobs are not
// deleted with the records that name them (a revision may name the same one); `aos purge`
// of a stack leaves them too.
const blobPart = 350 << 10

// body is the item attributes that hold data: the data itself when it fits, else a blob's
// digest, the blob written.
func (s *Store) body(ctx context.Context, stack string, data []byte) (map[string]types.AttributeValue, error) {
	if len(data) <= MaxItemBytes {
		return map[string]types.AttributeValue{"data": &types.AttributeValueMemberS{Value: string(data)}}, nil
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if err := s.writeBlob(ctx, stack, digest, data); err != nil {
		return nil, err
	}
	return map[string]types.AttributeValue{"blob": &types.AttributeValueMemberS{Value: digest}}, nil
}

// writeBlob stores data in parts under its digest.
func (s *Store) writeBlob(ctx context.Context, stack, digest string, data []byte) error {
	for i := 0; i*blobPart < len(data); i++ {
		part := data[i*blobPart : min(len(data), (i+1)*blobPart)]
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: map[string]types.AttributeValue{
			"PK": pk(stack), "SK": sk(blobKey(digest, i)), "data": &types.AttributeValueMemberB{Value: part},
		}})
		if err != nil {
			return fmt.Errorf("dynamodb put %s/%s: %w", stack, blobKey(digest, i), err)
		}
	}
	return nil
}

func blobKey(digest string, i int) string { return fmt.Sprintf("BLOB#%s#%05d", digest, i) }

// readBlob reads a blob's parts in order and checks them against its digest.
func (s *Store) readBlob(ctx context.Context, stack, digest string) ([]byte, error) {
	var data []byte
	err := s.query(ctx, stack, "BLOB#"+digest+"#", "BLOB#"+digest+"$", func(item map[string]types.AttributeValue) error {
		part, ok := item["data"].(*types.AttributeValueMemberB)
		if !ok {
			return fmt.Errorf("dynamodb blob %s of stack %s: a part without data", digest, stack)
		}
		data = append(data, part.Value...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(data); !strings.EqualFold(hex.EncodeToString(sum[:]), digest) {
		return nil, fmt.Errorf("dynamodb blob %s of stack %s: its parts are missing or damaged (%d bytes read)", digest, stack, len(data))
	}
	return data, nil
}
