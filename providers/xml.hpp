// Just enough XML for SOAP gateways and XML replies: escaping text for an element or an
// attribute, and reading the text of an element found by its local name. No DTDs, no
// namespaces resolved (a prefix is ignored), no validation: the documents are a provider's small
// replies, read tolerantly, and any reply the reader cannot follow reads as "absent".
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tinbao::xml {

// Appends `s` as XML 1.0 character data or an attribute value: & < > " ' as entities, CR as
// &#13; (a parser would turn a raw CR into LF), and the control characters XML 1.0 cannot carry
// at all (C0 other than tab, LF, CR) as a space. Other bytes (UTF-8) as they are.
void append_escaped(std::string& out, std::string_view s);
std::string escaped(std::string_view s);

// The text of the first element whose local name (the part after any "prefix:") is
// `local_name`, e.g. "result" finds <result>1</result> and <ns2:result>1</ns2:result>: its
// character data and CDATA sections with the five entities and numeric references decoded;
// child elements' tags are skipped and their text kept. nullopt when there is no such element
// or the document is cut or malformed around it. At most `max_bytes` of the document are read.
std::optional<std::string> element_text(std::string_view doc, std::string_view local_name,
                                        std::size_t max_bytes = 1 << 20);

}  // namespace tinbao::xml
