package api

import "encoding/xml"

// LabAccess is how a student reaches a lab through labd's gateway: the
// body of GET /api/lab-instances/{name}/access and of POST .../access/rotate.
// Token is a secret: it is never part of the lab object, so never in
// lists, watches, events, CloudEvents or logs.
type LabAccess struct {
	XMLName xml.Name `json:"-" xml:"LabAccess"`
	// URL is the lab's gateway URL, the one status.access_url holds once
	// the lab runs.
	URL string `json:"url" xml:"url"`
	// Token lets the holder into the lab: open URL?token=<token> once, and
	// the gateway keeps it in a cookie of that lab.
	Token string `json:"token" xml:"token"`
}

// EventAccessRotated is the change event written when a lab's access
// token is replaced (without the token).
const EventAccessRotated = "labinstancerequest.access.rotated"
