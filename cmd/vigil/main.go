package main

import (
	"os"

	"github.com/vigil-ha/vigil/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.Env{
		Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, ReadFile: os.ReadFile,
		WriteFile: func(path string, data []byte) error { return os.WriteFile(path, data, 0o600) },
	}))
}
