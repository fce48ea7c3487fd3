// Package codec reads and writes the API's three wire formats, JSON, YAML
// and XML: content negotiation (Negotiate, BodyFormat), bounded reading of
// request bodies (ReadBody), strict decoding (NewBody, Body.Decode,
// Body.MergePatch) and encoding (Format.Encode, Format.EncodeProblem).
//
// Decoding is strict in every format, so that a typo is reported rather
// than silently dropped: a field the target type does not have is a 400
// naming it by its full path ("spec.gpu"), and so is a field given twice.
// JSON and YAML take one road, as in Kubernetes: a YAML body is converted to
// JSON first (sigs.k8s.io/yaml, which also refuses duplicate keys), and
// every JSON document is decoded by sigs.k8s.io/json's strict decoder, which
// matches names case-sensitively and reports every unknown and duplicate
// field with its path. XML, which has no generic form, is decoded by
// encoding/xml after a walk of its elements against the target type's xml
// tags, which reports unknown and repeated elements the same way.
//
// The rules a body must follow beyond its field names (one YAML document,
// one JSON value, an object at the top) live in NewBody and decodeJSON,
// the two places every body passes through. Errors are *api.Error values
// (EBADREQUEST, ETOOLARGE, EUNSUPPORTED, ENOTACCEPTABLE) whose messages
// quote only the client's own input; how many field errors a response
// lists is capped where the problem is built (api.NewProblem).
//
// The package knows nothing of Gin or of the routes: httpapi calls it.
package codec
