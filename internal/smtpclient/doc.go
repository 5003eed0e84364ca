// Package smtpclient is ops' one SMTP client: connect, EHLO, STARTTLS (the
// caller's tls.Config decides what is verified), and the commands of one
// delivery, every step bounded by the caller's context. It keeps each reply
// (code and text) so that a caller can show what the server said: the
// notifications send their e-mail through it, and tlscheck is meant to
// probe servers with it too.
//
// smtpclient is a leaf: it imports only the standard library.
package smtpclient
