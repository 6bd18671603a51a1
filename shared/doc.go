// Package shared holds everything the functions are made of, grouped by
// role, with imports that point one way (layers_test.go holds them):
//
//   - domain: the marketplace protocol, activation, the Guance records,
//     metering, verification codes, sessions, sites, the outbox,
//     passwords. It imports nothing but itself and the platform.
//   - endpoints: the HTTP surfaces (callback, sso, sendcode,
//     registration, binding) and what they share (flow, the views in web,
//     i18n, routes). A surface never imports another surface.
//   - jobs: the scheduled runs (reconcile, usagepush) and the runner they
//     share (lease, time left, throttling waits, parallel work). They reach
//     storage and the Market OpenAPI through interfaces they declare,
//     never an adapter or a surface.
//   - adapters: DynamoDB (storage), SES (mail), the Market OpenAPI
//     (marketapi), Parameter Store (ssmparam).
//   - platform: the Lambda bootstrap (function), config, logging,
//     metrics.
//
// Nothing here imports the dev-only tree under cmd/devstack.
package shared
