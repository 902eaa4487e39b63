package bridge

import (
	"strconv"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
)

// idNamespace seeds the name-based UUIDs of spans and events. Fixed forever:
// changing it would give re-sent data new ids and duplicate it on Ezop.
var idNamespace = uuid.MustParse("6f1c8f8e-2b7a-4c55-9d0e-6b1f0c3e7a21")

// SpanUUID returns the Ezop span id for an OTel span: a name-based (version
// 5) UUID of the trace and span ids. Being derived, it lets a child name
// its parent and a retry name its first attempt without any lookup. The
// text is lower-case and hyphenated, as the server requires.
func SpanUUID(traceID trace.TraceID, spanID trace.SpanID) string {
	var name [24]byte
	copy(name[:16], traceID[:])
	copy(name[16:], spanID[:])
	return uuid.NewSHA1(idNamespace, name[:]).String()
}

// eventUUID returns the id of the Ezop event that the translation derives
// from an OTel span: kind says which rule produced it and index tells
// apart events of one kind (e.g. the position of an OTel span event).
func eventUUID(traceID trace.TraceID, spanID trace.SpanID, kind string, index int) string {
	name := make([]byte, 0, 24+len(kind)+8)
	name = append(name, traceID[:]...)
	name = append(name, spanID[:]...)
	name = append(name, kind...)
	name = append(name, '/')
	name = strconv.AppendInt(name, int64(index), 10)
	return uuid.NewSHA1(idNamespace, name).String()
}

// normalizeUUID returns u in the server's canonical spelling, and false if
// u is not a UUID.
func normalizeUUID(u string) (string, bool) {
	p, err := uuid.Parse(u)
	if err != nil || len(u) < 32 {
		return "", false
	}
	return p.String(), true
}
