// Package ssmparam reads SecureString parameters from SSM Parameter Store
// with signed HTTPS calls (GetParameters, WithDecryption: every secret a
// function needs in one call), using the AWS SDK's Signature Version 4
// signer and the function's credentials. A throttled call, a 5xx and a
// call that reached no one are tried again, after a jittered wait.
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
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// MaxNames is the most names one GetParameters call takes.
const MaxNames = 10

// Attempts is how many times a call is made before its failure is
// returned: a function's start waits at most about a second more.
const Attempts = 3

// Store reads parameters.
type Store struct {
	Credentials aws.CredentialsProvider
	Region      string
	// Endpoint is the SSM endpoint; empty: AWS_ENDPOINT_URL_SSM, else the
	// region's public endpoint.
	Endpoint string
	HTTP     *http.Client
	Now      func() time.Time
	// Sleep waits between attempts (tests make it instant).
	Sleep func(ctx context.Context, d time.Duration) error
}

// New returns a store for cfg (its credentials and region).
func New(cfg aws.Config) *Store {
	return &Store{Credentials: cfg.Credentials, Region: cfg.Region, HTTP: &http.Client{Timeout: 5 * time.Second}, Now: time.Now, Sleep: sleep}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
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
	return "https://ssm." + s.Region + "." + dnsSuffix(s.Region)
}

// dnsSuffix is the region's partition's: the China regions (cn-north-1,
// cn-northwest-1) are under amazonaws.com.cn.
func dnsSuffix(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "amazonaws.com.cn"
	}
	return "amazonaws.com"
}

// Error is SSM's refusal (ParameterNotFound, AccessDeniedException, ...).
type Error struct {
	Status int
	Code   string
}

func (e *Error) Error() string { return fmt.Sprintf("ssm GetParameters: %d %s", e.Status, e.Code) }

// retryable tells a refusal worth another attempt: throttling, or SSM
// failing on its side.
func (e *Error) retryable() bool {
	return e.Status >= 500 || e.Code == "ThrottlingException" || e.Code == "TooManyUpdates"
}

// ErrNotFound: a parameter does not exist (or the function may not see it).
var ErrNotFound = errors.New("parameter not found")

// SecureString returns the decrypted value of the parameter name
// (ErrNotFound, naming it, when SSM has none: a name is no secret).
func (s *Store) SecureString(ctx context.Context, name string) (string, error) {
	values, err := s.SecureStrings(ctx, []string{name})
	if err != nil {
		return "", err
	}
	v, ok := values[name]
	if !ok {
		return "", fmt.Errorf("ssm GetParameters: %w: %s", ErrNotFound, name)
	}
	return v, nil
}

// SecureStrings returns the decrypted values of the parameters named, in
// one call per MaxNames. A name SSM does not have is left out of the
// answer (the caller decides whether it needed it): one parameter
// misnamed never keeps the others from being read.
func (s *Store) SecureStrings(ctx context.Context, names []string) (map[string]string, error) {
	values := make(map[string]string, len(names))
	for start := 0; start < len(names); start += MaxNames {
		batch := names[start:min(start+MaxNames, len(names))]
		if err := s.getParameters(ctx, batch, values); err != nil {
			return nil, err
		}
	}
	return values, nil
}

// getParameters makes one GetParameters call, trying it again as Attempts
// allows, with a full-jitter wait (50 ms doubling, at most 800 ms).
func (s *Store) getParameters(ctx context.Context, names []string, into map[string]string) error {
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		raw, err := s.call(ctx, names)
		var refused *Error
		retry := err != nil && ctx.Err() == nil && (!errors.As(err, &refused) || refused.retryable())
		if !retry || attempt == Attempts {
			if err != nil {
				return err
			}
			return decode(raw, into)
		}
		pause := s.Sleep
		if pause == nil {
			pause = sleep
		}
		if err := pause(ctx, rand.N(wait)+time.Millisecond); err != nil {
			return fmt.Errorf("ssm GetParameters: %w", err)
		}
		wait = min(2*wait, 800*time.Millisecond)
	}
}

func decode(raw []byte, into map[string]string) error {
	var out struct {
		Parameters []struct {
			Name  string `json:"Name"`
			Value string `json:"Value"`
		} `json:"Parameters"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return fmt.Errorf("ssm GetParameters: decode answer: %w", err)
	}
	for _, p := range out.Parameters {
		into[p.Name] = p.Value
	}
	return nil
}

// call makes one signed GetParameters request and returns its answer.
func (s *Store) call(ctx context.Context, names []string) ([]byte, error) {
	if s.Credentials == nil {
		return nil, errors.New("ssm GetParameters: no credentials")
	}
	body, err := json.Marshal(map[string]any{"Names": names, "WithDecryption": true})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint()+"/", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("ssm GetParameters: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM.GetParameters")
	creds, err := s.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("ssm GetParameters: credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ssm", s.Region, now().UTC()); err != nil {
		return nil, fmt.Errorf("ssm GetParameters: sign: %w", err)
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ssm GetParameters: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
	if err != nil {
		return nil, fmt.Errorf("ssm GetParameters: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var fault struct {
			Type string `json:"__type"`
		}
		_ = json.Unmarshal(raw, &fault)
		// The error type may come as "namespace#Code"; the message is left
		// out, since it can quote the parameter's name and more.
		code := fault.Type
		if i := strings.LastIndex(code, "#"); i >= 0 {
			code = code[i+1:]
		}
		return nil, &Error{Status: resp.StatusCode, Code: code}
	}
	return raw, nil
}
