package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"commerce/internal/config"
)

// healthcheckTimeout bounds the whole probe, below the 3 s a container
// runtime gives it (compose.yaml, the Dockerfile's HEALTHCHECK), so that
// a hung server is reported unhealthy by this command rather than killed.
const healthcheckTimeout = 2 * time.Second

// healthcheck is the container image's health check: the distroless image
// holds no HTTP client, so the binary probes its own server. It asks
// /readyz on HTTP_ADDR (an address on every interface is probed on
// loopback) and succeeds, so that main exits 0, only on a 200; a server
// draining at SIGTERM or without its database answers 503 and fails it.
// It reads HTTP_ADDR alone: no other variable needs to be valid for it.
func healthcheck(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	addr := cmp.Or(getenv("HTTP_ADDR"), config.DefaultHTTPAddr)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: HTTP_ADDR %q must be host:port or :port", addr)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/readyz"
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	// A transport of its own: no proxy from the environment, no redirect
	// followed to another host.
	client := &http.Client{Transport: &http.Transport{}, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, res.Status)
	}
	fmt.Fprintf(stdout, "%s: %s\n", url, res.Status)
	return nil
}
