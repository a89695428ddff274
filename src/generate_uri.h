// The parameters of a see2ai://generate URI, in either of its two forms: the query form
// see2ai://generate?prompt=a%20red%20fox&duration=5 and the path form
// see2ai://generate/prompt=a%20red%20fox/duration=5. The path form is for tools that keep nothing
// after a URI's first '?' and decode its escapes once before handing it on (ges-launch-1.0 reads
// its whole command line as one URI): written with escapes or as plain text, it arrives whole.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace see2ai {

struct UriParam {
  std::string name;
  std::string value;  // percent-decoded
};

// Splits what follows "see2ai://generate" (empty, "?QUERY" or "/PATH") into its parameters, in
// order. Query form: NAME=VALUE pairs between '&'. Path form: NAME=VALUE segments between '/'; a
// segment starts a new parameter only when it begins with a name `is_name` knows and '=', else it
// goes on the previous value (so a URL value keeps its slashes), unless it looks like NAME=VALUE
// with an unknown name (a misspelt property is refused, not played as part of the prompt); '?'
// and '#' are plain text there, and empty segments at the end are ignored.
// Values are percent-decoded; a '%' not followed by two hex digits is kept as it is (a value a
// tool already decoded). Throws std::invalid_argument naming the part that is not NAME=VALUE.
std::vector<UriParam> parse_generate_params(
    const std::string &rest, const std::function<bool(const std::string &)> &is_name);

// Percent-decoding that leaves a '%' without two hex digits after it as it is.
std::string decode_percent_escapes(const std::string &text);

}  // namespace see2ai
