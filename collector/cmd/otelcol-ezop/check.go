package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/otelcol"

	"github.com/ezopotel/ezop-otel-go/collector/ezopexporter"
)

// checkTimeout bounds the check of one exporter.
const checkTimeout = 30 * time.Second

// newCheckCommand is `otelcol-ezop check --config …`: for each ezop
// exporter of the configuration, whether its endpoint is the Ezop API and
// accepts its API key (ezopexporter.Check: GET /health, then one
// authenticated request that stores nothing). One line per exporter; the
// command fails if any check fails. Whether the plan is over its limits
// cannot be checked without storing something, so it is not.
func newCheckCommand(set otelcol.CollectorSettings) *cobra.Command {
	var configs []string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Checks that each ezop exporter reaches the Ezop API and that its API key is accepted (stores nothing)",
		Args:  cobra.ExactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd.Context(), cmd.OutOrStdout(), set, configs)
		},
	}
	cmd.Flags().StringArrayVar(&configs, "config", nil,
		"Locations of the config file(s), as for the collector itself, e.g. --config=otelcol-ezop.yaml")
	return cmd
}

func runCheck(ctx context.Context, w io.Writer, set otelcol.CollectorSettings, configs []string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if len(configs) > 0 {
		set.ConfigProviderSettings.ResolverSettings.URIs = configs
	}
	if len(set.ConfigProviderSettings.ResolverSettings.URIs) == 0 {
		return errors.New("at least one --config must be given")
	}
	provider, err := otelcol.NewConfigProvider(set.ConfigProviderSettings)
	if err != nil {
		return err
	}
	defer func() { _ = provider.Shutdown(ctx) }()
	factories, err := set.Factories()
	if err != nil {
		return err
	}
	cfg, err := provider.Get(ctx, factories)
	if err != nil {
		return err
	}
	ezopType := ezopexporter.NewFactory().Type()
	var ids []component.ID
	for id := range cfg.Exporters {
		if id.Type() == ezopType {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return fmt.Errorf("the configuration has no %s exporter", ezopType)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	failed := 0
	for _, id := range ids {
		c := cfg.Exporters[id]
		cctx, cancel := context.WithTimeout(ctx, checkTimeout)
		err := ezopexporter.Check(cctx, c)
		cancel()
		if err != nil {
			failed++
			fmt.Fprintf(w, "%s: FAILED: %v\n", id, err)
			continue
		}
		fmt.Fprintf(w, "%s: ok: %s is reachable and accepts the API key (plan limits are not checked: that would store data)\n", id, c.(*ezopexporter.Config).Endpoint)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d %s exporters failed the check", failed, len(ids), ezopType)
	}
	return nil
}
