// Command cspsync is the cspsync command line.
package main

import (
	"context"
	"os"

	"github.com/cspsync/cspsync/internal/cli"
)

func main() { cli.Main(context.Background(), cli.New(), os.Args) }
