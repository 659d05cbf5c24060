// Reading one YAML mapping of the configuration with precise errors.
//
// Every error names the file, the line and the dotted key path ("providers[0].api_key").
// Getters mark keys as known; finish() reports every key nobody asked for (a typo must not
// silently disable a feature). Scalars are expanded: `${NAME}` takes an environment variable,
// `${file:PATH}` a file's content (trailing newline removed); a missing one is an error.
//
// Used by the config loader (daemon/config) and by provider factories for their own keys.
// Not thread-safe; config is read on one thread.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tinbao {

struct Diagnostic {
    std::string file;
    int line = 0;          // 1-based; 0 when unknown
    std::string path;      // dotted key path, may be empty
    std::string message;
    // "file:line: path: message"
    std::string str() const;
};

struct Diagnostics {
    std::vector<Diagnostic> items;
    // For tools that read a config without sending (tinbaoctl render): a `${NAME}` that is not
    // set or a `${file:PATH}` that cannot be read becomes a placeholder text instead of an
    // error, its key path listed in `unresolved` (whose diagnostics the runtime builder drops).
    bool placeholders = false;
    std::vector<std::string> unresolved;
    void add(std::string file, int line, std::string path, std::string message);
    bool empty() const { return items.empty(); }
};

// Parses "500ms", "2s", "10m", "24h", "7d" (a whole number and one unit). nullopt if malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view s);

class ConfigView {
public:
    // `node` is a mapping (or null: then every optional getter answers nullopt).
    ConfigView(YAML::Node node, std::string path, std::string file,
               std::shared_ptr<Diagnostics> diags);

    const std::string& path() const { return path_; }
    const std::string& file() const { return file_; }
    YAML::Node node() const { return node_; }
    bool has(std::string_view key) const;
    int line() const;  // 1-based line of this node

    // Getters: nullopt when absent (an error too when `required`) or invalid (error recorded).
    std::optional<std::string> string(std::string_view key, bool required = false);
    std::optional<bool> boolean(std::string_view key, bool required = false);
    std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max,
                                   bool required = false);
    std::optional<double> number(std::string_view key, double min, double max,
                                 bool required = false);
    std::optional<std::chrono::milliseconds> duration(std::string_view key, bool required = false);
    std::optional<std::vector<std::string>> string_list(std::string_view key,
                                                        bool required = false);
    // A nested mapping (a null view when absent; an error when present but not a mapping).
    ConfigView child(std::string_view key, bool required = false);
    // Elements of a sequence of mappings; each view's path is "key[i]".
    std::vector<ConfigView> children(std::string_view key, bool required = false);
    // A mapping of scalar -> scalar (expanded), in file order.
    std::optional<std::vector<std::pair<std::string, std::string>>> string_map(
        std::string_view key, bool required = false);

    // Marks a key as known without reading it (read some other way).
    void accept(std::string_view key);
    // Records an error about `key` (its line when present, else this mapping's line).
    void error(std::string_view key, std::string message);
    // Reports every key that no getter or accept() asked for. Call once, after reading.
    void finish();

    Diagnostics& diagnostics() { return *diags_; }
    std::shared_ptr<Diagnostics> diagnostics_ptr() const { return diags_; }

    // Expands ${NAME} and ${file:PATH} in a scalar; records an error and returns nullopt when a
    // variable or file is missing. `key` is used for the error's path.
    std::optional<std::string> expand(const YAML::Node& scalar, std::string_view key);

private:
    std::string key_path(std::string_view key) const;
    int line_of(std::string_view key) const;

    YAML::Node node_;
    std::string path_;
    std::string file_;
    std::shared_ptr<Diagnostics> diags_;
    std::set<std::string, std::less<>> known_;
};

}  // namespace tinbao
