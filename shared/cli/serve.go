package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/aos-project/aos/shared/project"
	"github.com/aos-project/aos/shared/serve"
)

func (a *app) serveCmd() *cobra.Command {
	var addr, tlsCert, tlsKey string
	var insecure bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API (docs/openapi.yaml), run rebuild schedules and batches, in this process",
		Long: "Serves /v1 on --addr, and the web console at / (sign in with a token). Every request to /v1\n" +
			"must carry `Authorization: Bearer <token>`. The token\n" +
			"file holds one `TOKEN [IDENTITY]` per line (a token alone is the identity \"admin\"), and\n" +
			"projects (--projects) say which identities may use which stacks; $AOS_API_TOKEN is one\n" +
			"token of \"admin\". --insecure-no-auth serves without tokens, only on a loopback address,\n" +
			"and refuses requests from other origins. Operations run in this process with the embedded state machine\n" +
			"runner and the same state file as the CLI (--state). Ctrl-C stops accepting requests and\n" +
			"waits for running operations; an interrupted one continues with `aos resume`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.global.server != "" {
				return &exitError{ExitInvalid, errors.New("aos serve serves its own state: --server is for the other commands")}
			}
			tokenFile := a.global.tokenFile
			token := os.Getenv("AOS_API_TOKEN")
			var tokens *project.Tokens
			if tokenFile != "" {
				data, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				if tokens, err = project.ParseTokens(data); err != nil {
					return fmt.Errorf("--token-file %s: %w", tokenFile, err)
				}
				token = ""
			}
			if insecure {
				token, tokens = "", nil
			} else if token != "" && len(token) < project.MinTokenLength {
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
			srv, err := serve.New(ctx, e, serve.Options{Addr: addr, Token: token, Tokens: tokens, Insecure: insecure, TLSCert: tlsCert, TLSKey: tlsKey, Log: log})
			if err != nil {
				return err
			}
			auth := "bearer token required"
			if insecure {
				auth = "NO AUTHENTICATION (loopback only)"
			}
			scheme := "http"
			if tlsCert != "" {
				scheme = "https"
			}
			fmt.Fprintf(a.stdout, "aos serve: %s://%s/v1 (%s), state %s\n", scheme, srv.Addr(), auth, a.statePath())
			if err := srv.Serve(ctx); err != nil {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().StringVar(&tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM), with --tls-key")
	cmd.Flags().StringVar(&tlsKey, "tls-key", "", "the certificate's private key (PEM)")
	cmd.Flags().BoolVar(&insecure, "insecure-no-auth", false, "serve without authentication (loopback addresses only)")
	return cmd
}
