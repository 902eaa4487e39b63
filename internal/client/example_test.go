package client_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/ezopotel/ezop-otel-go/internal/client"
	"github.com/ezopotel/ezop-otel-go/internal/wire"
)

// A run with one span and one event. (Compiled, not run: it needs a
// server.)
func Example() {
	c, err := client.New(
		client.WithEndpoint("http://localhost:13000"), // loopback: plain http allowed
		client.WithAPIKey("ezop_sk_..."),              // default: EZOP_API_KEY
		client.WithUserAgent("my-service/1.0"),
	)
	if err != nil {
		log.Fatal(err) // wraps client.ErrInvalidConfig
	}
	ctx := context.Background()

	agent, err := c.RegisterAgent(ctx, wire.RegisterAgentRequest{Name: "support-bot", Owner: "team-a", Runtime: "go"})
	if err != nil {
		log.Fatal(err)
	}
	run, err := c.StartRun(ctx, agent.ID, wire.StartRunRequest{TriggerType: "api"})
	if err != nil {
		log.Fatal(err)
	}
	span, err := c.CreateSpan(ctx, run.ID, wire.CreateSpanRequest{
		Name:      "llm call",
		StartTime: time.Now().UTC().Format(wire.TimeFormat),
	}) // the client chooses the span id, so retries cannot duplicate it
	switch {
	case errors.Is(err, client.ErrNotFound):
		log.Print("run or parent span not stored: ", err)
	case err != nil:
		log.Print(err)
	case span.AssumedStored:
		log.Print("stored by an attempt whose answer was lost")
	}
	stored, _ := span.Span.Get() // decoded only when asked for
	_, err = c.EmitEvent(ctx, run.ID, wire.EmitEventRequest{SpanID: stored.ID, Name: "prompt", Category: "llm", Type: "llm_request"})
	var apiErr *client.APIError
	if errors.As(err, &apiErr) && errors.Is(err, client.ErrRateLimited) && apiErr.RetryAfter == 0 {
		log.Print("monthly event quota reached")
	}
	if _, err := c.EndRun(ctx, run.ID, wire.EndRunRequest{Status: "success"}); err != nil {
		log.Print(err)
	}
}
