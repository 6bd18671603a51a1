// Package ssmparam reads SecureString parameters from SSM Parameter Store
// with one signed HTTPS call (GetParameter, WithDecryption), using the AWS
// SDK's Signature Version 4 signer and the function's credentials.
//
// Why not the SDK's SSM client: linking it costs every function about
// 1.7 ms of package init at each cold start (its schema tables, measured
// with GODEBUG=inittrace=1), for one call made once per execution
// environment. The call is small and stable (the awsJson1_1 protocol), and
// the parts that are easy to get wrong (signing, credentials) are the SDK's.
package ssmparam

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Store reads parameters.
type Store struct {
	Credentials aws.CredentialsProvider
	Region      string
	// Endpoint is the SSM endpoint; empty: AWS_ENDPOINT_URL_SSM, else the
	// region's public endpoint.
	Endpoint string
	HTTP     *http.Client
	Now      func() time.Time
}

// New returns a store for cfg (its credentials and region).
func New(cfg aws.Config) *Store {
	return &Store{Credentials: cfg.Credentials, Region: cfg.Region, HTTP: &http.Client{Timeout: 5 * time.Second}, Now: time.Now}
}

func (s *Store) endpoint() string {
	if s.Endpoint != "" {
		return s.Endpoint
	}
	if e := os.Getenv("AWS_ENDPOINT_URL_SSM"); e != "" {
		return e
	}
	if e := os.Getenv("AWS_ENDPOINT_URL"); e != "" {
		return e
	}
	return "https://ssm." + s.Region + ".amazonaws.com"
}

// Error is SSM's refusal (ParameterNotFound, AccessDeniedException, ...).
type Error struct {
	Status int
	Code   string
}

func (e *Error) Error() string { return fmt.Sprintf("ssm GetParameter: %d %s", e.Status, e.Code) }

// SecureString returns the decrypted value of the parameter name.
func (s *Store) SecureString(ctx context.Context, name string) (string, error) {
	if s.Credentials == nil {
		return "", errors.New("ssm GetParameter: no credentials")
	}
	body, err := json.Marshal(map[string]any{"Name": name, "WithDecryption": true})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint()+"/", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("ssm GetParameter: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM.GetParameter")
	creds, err := s.Credentials.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("ssm GetParameter: credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ssm", s.Region, s.Now().UTC()); err != nil {
		return "", fmt.Errorf("ssm GetParameter: sign: %w", err)
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("ssm GetParameter: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("ssm GetParameter: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var fault struct {
			Type string `json:"__type"`
		}
		_ = json.Unmarshal(raw, &fault)
		// The error type may come as "namespace#Code"; the message is left
		// out, since it can quote the parameter's name and more.
		code := fault.Type
		for i := len(code) - 1; i >= 0; i-- {
			if code[i] == '#' {
				code = code[i+1:]
				break
			}
		}
		return "", &Error{Status: resp.StatusCode, Code: code}
	}
	var out struct {
		Parameter struct {
			Value string `json:"Value"`
			Type  string `json:"Type"`
		} `json:"Parameter"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", fmt.Errorf("ssm GetParameter: decode answer: %w", err)
	}
	return out.Parameter.Value, nil
}
