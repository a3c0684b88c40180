// Package oip serves the models of an inference.Cache over the Open Inference
// Protocol v2 REST API (KServe v2 / Triton), with Talon's feedback and
// monitoring extensions.
//
// Routes:
//
//	GET  /v2                                      server metadata
//	GET  /v2/health/live, /v2/health/ready        liveness, readiness
//	GET  /v2/models/{org}[/versions/{v}]          model metadata
//	GET  /v2/models/{org}[/versions/{v}]/ready    model readiness
//	POST /v2/models/{org}[/versions/{v}]/infer    inference
//	POST /v2/models/{org}/feedback                the actual outcome of a prediction
//	GET  /talon/v1/orgs/{org}/monitoring          rolling windows (with ServerOptions.Monitor)
//	GET  /metrics                                 Prometheus (with ServerOptions.Metrics)
//
// # Feedback
//
// Every successful infer response is remembered for feedback under its "id"
// (the client's request id, or a UUID Talon made up and returned): per org,
// the last FeedbackCapacity predictions (default 100,000, about 72 bytes each
// and no pointers for the garbage collector to scan) for FeedbackTTL (default
// 1h), with the model version that made them. A request id sent again
// replaces the earlier prediction, so clients that want feedback send unique
// ids (or none). What is remembered is the predicted class of each row of the
// model's first output, if the response carries it: a single probability per
// row predicts class 1 at or above the org's threshold (DefaultThreshold 0.5,
// Server.SetThreshold), a pair of probabilities predicts class 1 when the
// second is at or above it, more probabilities predict their argmax, and one
// integer or boolean per row is the class. The threshold in force when the
// prediction was made is the one that counts.
//
// POST /v2/models/{org}/feedback with {"id": "<infer response id>", "label": 1}
// ("actual" is a synonym of "label"; a batch takes "labels": [0, 1, ...], one
// per row; a label is a class number or true/false) scores the prediction and
// answers with the predicted and actual classes, how many were right and, with
// a Monitor, the version's rolling accuracy. An unknown, evicted or expired id
// is a 404, a second feedback for the same id a 409, a prediction that cannot
// be scored (an output of another form, more than FeedbackMaxRows rows) a 422.
//
// # Monitoring
//
// Each infer request counts, in the Metrics and the Monitor, under the org, the
// model version that answered it (or would have) and its outcome: ok (2xx),
// client_error (4xx, including 499 when the client went away) or server_error
// (5xx). Requests for an org that is not served count without an org label.
// Latency is from the handler's start to the response being written.
package oip
