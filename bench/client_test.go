package main

import (
	"slices"
	"testing"
)

// With -replicas the client sends each request to the next replica; the
// probes' pinned client stays on one.
func TestClientRoundRobin(t *testing.T) {
	c := newClient([]string{"http://a", "http://b"}, 1, "")
	var got []string
	for range 4 {
		got = append(got, c.base())
	}
	if want := []string{"http://a", "http://b", "http://a", "http://b"}; !slices.Equal(got, want) {
		t.Fatalf("bases %v, want %v", got, want)
	}
	p := c.pinned(1)
	if p.base() != "http://b" || p.base() != "http://b" {
		t.Fatal("a pinned client left its replica")
	}
	if c.base() != "http://a" {
		t.Fatal("the pinned client moved the round-robin of the one it came from")
	}
}
