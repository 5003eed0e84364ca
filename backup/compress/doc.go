// Package compress owns the compression methods of a dump stream: one table
// (Method) holds each method's name, object-name suffix, magic bytes, level
// range, frame codec and reader, so that nothing else in ops spells out the
// set of methods.
//
// It imports only the standard library and klauspost/compress; it must not
// import any other ops package.
package compress
