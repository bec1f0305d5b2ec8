// Package logging sets up zerolog the same way for every function: JSON, one event per line,
// on stderr (CloudWatch picks it up), with the function's name on every event.
package logging

import (
	"context"
	"os"

	"github.com/rs/zerolog"
)

// Lambda returns a context carrying the function's logger, for lambda.WithContext.
func Lambda(function string) context.Context {
	level, err := zerolog.ParseLevel(os.Getenv("AOS_LOG_LEVEL"))
	if err != nil || level == zerolog.NoLevel {
		level = zerolog.InfoLevel
	}
	logger := zerolog.New(os.Stderr).Level(level).With().Timestamp().Str("function", function).Logger()
	return logger.WithContext(context.Background())
}
