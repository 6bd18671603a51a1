// Package marketplace speaks the Alibaba Cloud Marketplace SPI protocol: it
// collects the parameters of a call, checks and produces their token, and
// decodes each action into a typed, validated message.
//
// It knows nothing about storage or HTTP status codes; callers decide what a
// message means for the product and how a rejection is reported.
package marketplace
