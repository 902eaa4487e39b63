package ezopexporter

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/component"

	"github.com/ezopotel/ezop-otel-go/exporter"
)

// Check answers whether an ezop exporter configured with cfg can deliver:
// the endpoint is the Ezop API and it accepts the API key. It is
// exporter.Check (see there: what it asks, its typed errors, and that it
// cannot tell whether the plan is over its limits) for the options cfg
// gives; it stores nothing. cfg must be this component's *Config; it is
// validated first.
func Check(ctx context.Context, cfg component.Config) error {
	c, ok := cfg.(*Config)
	if !ok {
		return fmt.Errorf("ezop exporter: check: configuration of type %T, want *ezopexporter.Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("ezop exporter: invalid configuration: %w", err)
	}
	err := exporter.Check(ctx, c.options()...)
	var ce *exporter.CheckError
	if errors.As(err, &ce) {
		// Name the fix in the Collector's terms.
		ce.Fix = collectorTerms.Replace(ce.Fix)
	}
	return err
}

// collectorTerms rewrites the library's names of settings into the
// component's configuration keys.
var collectorTerms = strings.NewReplacer(
	"the endpoint (EZOP_API_URL or WithEndpoint)", "the exporter's endpoint",
	"EZOP_API_KEY (WithAPIKey)", "the exporter's api_key",
	"EZOP_TIMEOUT (WithTimeout)", "request_timeout",
)
