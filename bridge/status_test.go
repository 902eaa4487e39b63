package bridge

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/ezopotel/ezop-otel-go/semconv"
)

// The error event of a span with status Error always says why.
func TestErrorStatusMessage(t *testing.T) {
	tests := []struct {
		name  string
		desc  string
		attrs []attribute.KeyValue
		want  string
	}{
		{"description", "db down", []attribute.KeyValue{attribute.String("error.type", "timeout")}, "db down"},
		{"error.type", "", []attribute.KeyValue{attribute.String("error.type", "timeout")}, "timeout"},
		{"HTTP status", "", []attribute.KeyValue{attribute.Int("http.response.status_code", 404)}, "HTTP status 404"},
		{"old HTTP status", "", []attribute.KeyValue{attribute.Int("http.status_code", 502)}, "HTTP status 502"},
		{"gRPC status", "", []attribute.KeyValue{attribute.Int("rpc.grpc.status_code", 14)}, "gRPC status 14"},
		{"nothing", "", nil, "span status Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := translate(t, Config{}, rootStub(), withStatus(child(2, "call", tt.attrs...), codes.Error, tt.desc))
			ev := oneEvent(t, eventsOn(p, uuidOf(2)), semconv.CategoryError, semconv.TypeErrorRaised)
			if got := ev.Error["message"]; got != tt.want {
				t.Errorf("message %q, want %q", got, tt.want)
			}
		})
	}
}
