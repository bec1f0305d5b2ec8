package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/aos-project/aos/shared/serve"
)

func (a *app) serveCmd() *cobra.Command {
	var addr, tokenFile string
	var insecure bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API (docs/openapi.yaml), run rebuild schedules and batches, in this process",
		Long: "Serves /v1 on --addr. Every request must carry `Authorization: Bearer <token>`, the token\n" +
			"read from --token-file or $AOS_API_TOKEN; --insecure-no-auth serves without one, and only\n" +
			"on a loopback address. Operations run in this process with the embedded state machine\n" +
			"runner and the same state file as the CLI (--state). Ctrl-C stops accepting requests and\n" +
			"waits for running operations; an interrupted one continues with `aos resume`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			token := os.Getenv("AOS_API_TOKEN")
			if tokenFile != "" {
				data, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				token = strings.TrimSpace(string(data))
				if token == "" {
					return fmt.Errorf("--token-file %s is empty", tokenFile)
				}
			}
			if insecure {
				token = ""
			} else if token != "" && len(token) < 16 {
				return errors.New("the API token is shorter than 16 characters: use a long random one, e.g. `openssl rand -hex 32`")
			}
			e, err := a.engine()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			_, _, tty := terminal(a.stderr)
			log := zerolog.New(zerolog.ConsoleWriter{Out: a.stderr, NoColor: !tty}).With().Timestamp().Logger()
			srv, err := serve.New(ctx, e, serve.Options{Addr: addr, Token: token, Insecure: insecure, Log: log})
			if err != nil {
				return err
			}
			auth := "bearer token required"
			if insecure {
				auth = "NO AUTHENTICATION (loopback only)"
			}
			fmt.Fprintf(a.stdout, "aos serve: http://%s/v1 (%s), state %s\n", srv.Addr(), auth, a.statePath())
			if err := srv.Serve(ctx); err != nil {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file holding the bearer token (default $AOS_API_TOKEN)")
	cmd.Flags().BoolVar(&insecure, "insecure-no-auth", false, "serve without authentication (loopback addresses only)")
	return cmd
}
