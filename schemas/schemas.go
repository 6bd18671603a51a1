// Package schemas holds the JSON schemas of the business events the
// stack publishes (events/<kind slug>.json, one per detail type), for the
// rest of Guance to code against, and checks an event's detail against
// its kind's schema (the tests do, on every event they see).
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed events/*.json
var files embed.FS

var (
	once     sync.Once
	compiled map[string]*jsonschema.Schema
	loadErr  error
)

// slug is a detail type's file name: "Purchase Created" is
// purchase-created.
func slug(detailType string) string {
	return strings.ReplaceAll(strings.ToLower(detailType), " ", "-")
}

func load() {
	compiled = map[string]*jsonschema.Schema{}
	entries, err := files.ReadDir("events")
	if err != nil {
		loadErr = err
		return
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	var names []string
	for _, e := range entries {
		data, err := files.ReadFile("events/" + e.Name())
		if err != nil {
			loadErr = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			loadErr = fmt.Errorf("%s: %w", e.Name(), err)
			return
		}
		name := "mem://events/" + e.Name()
		if err := c.AddResource(name, doc); err != nil {
			loadErr = err
			return
		}
		names = append(names, e.Name())
	}
	for _, n := range names {
		s, err := c.Compile("mem://events/" + n)
		if err != nil {
			loadErr = fmt.Errorf("%s: %w", n, err)
			return
		}
		compiled[strings.TrimSuffix(n, ".json")] = s
	}
}

// Has tells whether a detail type has its schema.
func Has(detailType string) bool {
	once.Do(load)
	_, ok := compiled[slug(detailType)]
	return ok && loadErr == nil
}

// Validate checks an event's detail against its detail type's schema.
func Validate(detailType string, detail []byte) error {
	once.Do(load)
	if loadErr != nil {
		return loadErr
	}
	s, ok := compiled[slug(detailType)]
	if !ok {
		return fmt.Errorf("no schema for detail type %q", detailType)
	}
	var doc any
	if err := json.Unmarshal(detail, &doc); err != nil {
		return fmt.Errorf("detail of %q is not JSON: %w", detailType, err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("detail of %q: %w", detailType, err)
	}
	return nil
}
