// The parts of the config loader (config.cpp reads the YAML file and the daemon's own
// sections; config_delivery.cpp the routes and the providers' common keys, and checks them
// against each other). Internal to daemon/config.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config/config.hpp"

namespace tinbao::config_parts {

// The value of `key` when it is one of `allowed`; an error naming them otherwise.
std::optional<std::string> one_of(ConfigView& v, std::string_view key,
                                  std::initializer_list<std::string_view> allowed);
// A list of channels, each known and given once.
std::vector<Channel> read_channels(ConfigView& v, std::string_view key, bool required);

template <typename T, typename U>
void set_if(std::optional<U> v, T& out) {
    if (v) out = static_cast<T>(*v);
}

// "host:port" or "[v6]:port". Returns an error message, empty on success.
std::string parse_host_port(std::string_view s, std::string& host, uint16_t& port);
// http: listeners, TLS, limits, clients and their rights.
void load_http(ConfigView& root, Config& c, Diagnostics& diags);

// routes: each status canonical (or an alias) and routed once. Needs the statuses' aliases.
void load_routes(ConfigView& root, Config& c);
// providers: the keys common to every adapter; the view is kept for the adapter's factory.
void load_providers(ConfigView& root, Config& c);
// "HH:MM" -> minutes after midnight; nullopt when malformed.
std::optional<int> parse_hhmm(std::string_view s);
// reminders: after the routes and the providers (a rule's channels default to its route's and
// must be served).
void load_reminders(ConfigView& root, Config& c, Diagnostics& diags);
// Routes may only name channels that some enabled provider serves.
void check_routes_served(ConfigView& root, const Config& c, Diagnostics& diags);

// agencies and prices (config_usage.cpp): needs the providers (senders and prices name them).
void load_usage(ConfigView& root, Config& c, const std::filesystem::path& dir);

}  // namespace tinbao::config_parts
