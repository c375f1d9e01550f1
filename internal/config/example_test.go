package config_test

import (
	"testing"

	"github.com/vigil-ha/vigil/internal/config"
)

func TestExampleLoads(t *testing.T) {
	c, err := config.Load("../../examples/vigil.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Log(c)
}
