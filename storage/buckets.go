package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
)

// farmID matches the ids of docs/contract.md#ids-and-errors. Farm ids reach
// InfluxQL statements as quoted identifiers (CREATE DATABASE has no bound
// parameters), so they are checked here even though the API validated them
// already.
var farmID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func checkFarm(farm string) error {
	if !farmID.MatchString(farm) {
		return fmt.Errorf("invalid farm id %q", farm)
	}
	return nil
}

// RetentionPolicy is the 1.x retention policy a Farm's data lives in, and
// the one the 2.x DBRP mapping names.
const RetentionPolicy = "autogen"

// EnsureBucket makes sure the Farm's bucket exists. 1.x: CREATE DATABASE
// (a no-op when it exists). 2.x: the bucket and its DBRP mapping, each
// created only when missing. 3.x: nothing, databases appear on first write.
func (c *Client) EnsureBucket(ctx context.Context, farm string) error {
	if err := checkFarm(farm); err != nil {
		return err
	}
	name := BucketName(farm)
	switch c.flavor {
	case V2:
		return c.ensureBucketV2(ctx, name)
	case V3:
		return nil
	default:
		_, err := c.influxQL(ctx, "create database "+name, http.MethodPost, "", "CREATE DATABASE "+quoteIdent(name), nil)
		return err
	}
}

// DropBucket deletes the Farm's bucket and all its data. A missing bucket is
// not an error.
func (c *Client) DropBucket(ctx context.Context, farm string) error {
	if err := checkFarm(farm); err != nil {
		return err
	}
	name := BucketName(farm)
	c.mu.Lock()
	delete(c.writers, farm)
	c.mu.Unlock()
	switch c.flavor {
	case V2:
		orgID, err := c.orgIDv2(ctx)
		if err != nil {
			return err
		}
		b, err := c.findBucketV2(ctx, orgID, name)
		if err != nil || b == nil {
			return err
		}
		_, err = c.do(ctx, "delete bucket "+name, http.MethodDelete, "/api/v2/buckets/"+url.PathEscape(b.ID), nil, nil)
		return err
	case V3:
		_, err := c.do(ctx, "delete database "+name, http.MethodDelete, "/api/v3/configure/database", url.Values{"db": {name}}, nil)
		var e *Error
		if errors.As(err, &e) && e.StatusCode == http.StatusNotFound {
			return nil
		}
		return err
	default:
		// DROP DATABASE is idempotent in 1.x.
		_, err := c.influxQL(ctx, "drop database "+name, http.MethodPost, "", "DROP DATABASE "+quoteIdent(name), nil)
		return err
	}
}

type bucketV2 struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	OrgID string `json:"orgID"`
}

type dbrpV2 struct {
	ID              string `json:"id,omitempty"`
	OrgID           string `json:"orgID"`
	BucketID        string `json:"bucketID"`
	Database        string `json:"database"`
	RetentionPolicy string `json:"retention_policy"`
	Default         bool   `json:"default"`
}

func (c *Client) ensureBucketV2(ctx context.Context, name string) error {
	orgID, err := c.orgIDv2(ctx)
	if err != nil {
		return err
	}
	b, err := c.findBucketV2(ctx, orgID, name)
	if err != nil {
		return err
	}
	if b == nil {
		body := map[string]any{"orgID": orgID, "name": name, "retentionRules": []any{}}
		resp, err := c.do(ctx, "create bucket "+name, http.MethodPost, "/api/v2/buckets", nil, body)
		var e *Error
		switch {
		case errors.As(err, &e) && e.StatusCode == http.StatusUnprocessableEntity:
			// Another node created it between our GET and POST (2.x answers
			// 422 "bucket with name … already exists"): look it up again.
			if b, err = c.findBucketV2(ctx, orgID, name); err != nil {
				return err
			}
			if b == nil {
				return e
			}
		case err != nil:
			return err
		default:
			b = new(bucketV2)
			if err := json.Unmarshal(resp.Body, b); err != nil || b.ID == "" {
				return fmt.Errorf("create bucket %s: bad answer: %s", name, resp.Body)
			}
		}
	}
	return c.ensureDBRPv2(ctx, orgID, b.ID, name)
}

func (c *Client) ensureDBRPv2(ctx context.Context, orgID, bucketID, db string) error {
	q := url.Values{"orgID": {orgID}, "db": {db}}
	resp, err := c.do(ctx, "list dbrps "+db, http.MethodGet, "/api/v2/dbrps", q, nil)
	if err != nil {
		return err
	}
	var list struct {
		Content []dbrpV2 `json:"content"`
	}
	if err := json.Unmarshal(resp.Body, &list); err != nil {
		return fmt.Errorf("list dbrps %s: decode: %w", db, err)
	}
	for _, m := range list.Content {
		if m.Database == db && m.RetentionPolicy == RetentionPolicy && m.BucketID == bucketID {
			return nil
		}
	}
	body := dbrpV2{OrgID: orgID, BucketID: bucketID, Database: db, RetentionPolicy: RetentionPolicy, Default: true}
	_, err = c.do(ctx, "create dbrp "+db, http.MethodPost, "/api/v2/dbrps", nil, body)
	return err
}

func (c *Client) findBucketV2(ctx context.Context, orgID, name string) (*bucketV2, error) {
	q := url.Values{"orgID": {orgID}, "name": {name}}
	resp, err := c.do(ctx, "find bucket "+name, http.MethodGet, "/api/v2/buckets", q, nil)
	var e *Error
	if errors.As(err, &e) && e.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var list struct {
		Buckets []bucketV2 `json:"buckets"`
	}
	if err := json.Unmarshal(resp.Body, &list); err != nil {
		return nil, fmt.Errorf("find bucket %s: decode: %w", name, err)
	}
	for i := range list.Buckets {
		if list.Buckets[i].Name == name {
			return &list.Buckets[i], nil
		}
	}
	return nil, nil
}

func (c *Client) orgIDv2(ctx context.Context) (string, error) {
	c.mu.Lock()
	id := c.orgID
	c.mu.Unlock()
	if id != "" {
		return id, nil
	}
	resp, err := c.do(ctx, "find org "+c.org, http.MethodGet, "/api/v2/orgs", url.Values{"org": {c.org}}, nil)
	if err != nil {
		return "", err
	}
	var list struct {
		Orgs []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"orgs"`
	}
	if err := json.Unmarshal(resp.Body, &list); err != nil {
		return "", fmt.Errorf("find org %s: decode: %w", c.org, err)
	}
	for _, o := range list.Orgs {
		if o.Name == c.org {
			c.mu.Lock()
			c.orgID = o.ID
			c.mu.Unlock()
			return o.ID, nil
		}
	}
	return "", &Error{Op: "find org " + c.org, StatusCode: http.StatusNotFound, Message: "organization not found"}
}
