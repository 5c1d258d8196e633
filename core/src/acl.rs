//! ACL 1.0 request signing (HMAC-SHA1 over sorted ext-field values and the body).
