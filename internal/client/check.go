package client

import (
	"context"
	"errors"

	"github.com/google/uuid"
)

// CheckKey makes one authenticated request that stores nothing and tells
// whether the server accepts the API key: GET /agents/{id}/runs for an
// agent id that does not exist. The server authenticates before it looks
// the agent up (CONTRACT.md, "order of checks"), so its 404 "Agent not
// found." envelope means the key passed, and 401/403 (ErrAuth) that it did
// not. It returns nil when the key was accepted, else the operation's
// error (ErrAuth, ErrRateLimited, ErrServer, ErrTransport, or ErrNotFound
// without an error code: the path is not the API's). The client's retry
// policy applies; build the client without retries for a quick check.
func (c *Client) CheckKey(ctx context.Context) error {
	_, err := c.ListRuns(ctx, uuid.NewString())
	var ae *APIError
	if errors.Is(err, ErrNotFound) && errors.As(err, &ae) && ae.Code != "" {
		return nil // Ezop's own 404: authenticated, no such agent
	}
	return err
}
