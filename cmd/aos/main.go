// Command aos is the AOS command line.
package main

import (
	"os"

	"github.com/aos-project/aos/shared/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
