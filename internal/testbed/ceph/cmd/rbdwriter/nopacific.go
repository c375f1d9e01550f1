//go:build !pacific

package main

import (
	"context"
	"errors"
)

func run(context.Context, options, *reporter) error {
	return errors.New("rbdwriter: built without -tags pacific, so without librbd")
}
