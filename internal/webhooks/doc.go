// Package webhooks owns outbound webhooks: the endpoints integrators
// subscribe to topics, the deliveries written in the transaction of the
// change they report (Announce), and their sending from a River job
// (Deliver): signed bodies, retries with doubling backoff, per-order
// ordering per endpoint, deactivation after repeated failures, and a
// sender that refuses loopback, private, link-local and metadata addresses
// at connection time, after DNS resolution.
//
// The body of every attempt of a delivery is the same bytes, stored on the
// row when the change commits: {"id": <event id>, "topic": …, "createdAt":
// …, "data": …}. Each attempt is signed with its own timestamp in the
// Commerce-Signature header, "t=<unix>,v1=<hex HMAC-SHA256(secret, t + "."
// + body)>", with a second v1= (the previous secret) during a rotation's
// overlap.
package webhooks
