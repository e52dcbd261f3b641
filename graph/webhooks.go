package graph

import (
	"bytes"
	"encoding/json"

	"commerce/graph/model"
	"commerce/internal/webhooks"
)

// This file converts outbound webhooks between the domain and GraphQL.

func toWebhookInput(in model.WebhookEndpointInput) webhooks.EndpointInput {
	out := webhooks.EndpointInput{URL: in.URL, Description: in.Description, IsActive: in.IsActive == nil || *in.IsActive}
	for _, t := range in.Topics {
		out.Topics = append(out.Topics, webhooks.Topic(t))
	}
	return out
}

// toWebhookStatus is the status filter of deliveries; empty matches all.
func toWebhookStatus(s *model.WebhookDeliveryStatus) webhooks.Status {
	if s == nil {
		return ""
	}
	return webhooks.Status(*s)
}

func toWebhookEndpoint(e *webhooks.Endpoint) *model.WebhookEndpoint {
	out := &model.WebhookEndpoint{ID: e.ID, URL: e.URL, Description: e.Description, IsActive: e.IsActive,
		CreatedAt: e.CreatedAt, Topics: make([]model.WebhookTopic, len(e.Topics))}
	for i, t := range e.Topics {
		out.Topics[i] = model.WebhookTopic(t)
	}
	return out
}

// toWebhookDelivery converts a delivery; its payload is the body it sends,
// numbers kept as written.
func toWebhookDelivery(d *webhooks.Delivery) *model.WebhookDelivery {
	payload := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(d.Body))
	dec.UseNumber()
	_ = dec.Decode(&payload) // the service wrote it with json.Marshal
	return &model.WebhookDelivery{ID: d.ID, EventID: d.EventID, Topic: model.WebhookTopic(d.Topic),
		Status: model.WebhookDeliveryStatus(d.Status), Attempts: d.Attempts, ResponseStatus: d.ResponseStatus,
		LastError: d.LastError, Payload: payload, CreatedAt: d.CreatedAt, DeliveredAt: d.DeliveredAt}
}

func toWebhookEndpointConnection(p *webhooks.EndpointPage) *model.WebhookEndpointConnection {
	edges := make([]*model.WebhookEndpointEdge, len(p.Edges))
	cursors := make([]string, len(p.Edges))
	for i, e := range p.Edges {
		edges[i] = &model.WebhookEndpointEdge{Node: toWebhookEndpoint(e.Node), Cursor: e.Cursor}
		cursors[i] = e.Cursor
	}
	return &model.WebhookEndpointConnection{Edges: edges, PageInfo: toPageInfo(p.HasNextPage, p.HasPrevious, cursors),
		TotalCount: p.TotalCount}
}

func toWebhookDeliveryConnection(p *webhooks.DeliveryPage) *model.WebhookDeliveryConnection {
	edges := make([]*model.WebhookDeliveryEdge, len(p.Edges))
	cursors := make([]string, len(p.Edges))
	for i, e := range p.Edges {
		edges[i] = &model.WebhookDeliveryEdge{Node: toWebhookDelivery(e.Node), Cursor: e.Cursor}
		cursors[i] = e.Cursor
	}
	return &model.WebhookDeliveryConnection{Edges: edges, PageInfo: toPageInfo(p.HasNextPage, p.HasPrevious, cursors),
		TotalCount: p.TotalCount}
}

// webhookEndpointPayload is the payload of create, update and rotate; the
// secret only from the first and the last.
func webhookEndpointPayload(e *webhooks.Endpoint, secret string, err error) (*model.WebhookEndpointPayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.WebhookEndpointPayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	p := &model.WebhookEndpointPayload{Endpoint: toWebhookEndpoint(e), UserErrors: []*model.UserError{}}
	if secret != "" {
		p.Secret = &secret
	}
	return p, nil
}

func webhookDeliveryPayload(d *webhooks.Delivery, err error) (*model.WebhookDeliveryPayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.WebhookDeliveryPayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	return &model.WebhookDeliveryPayload{Delivery: toWebhookDelivery(d), UserErrors: []*model.UserError{}}, nil
}
