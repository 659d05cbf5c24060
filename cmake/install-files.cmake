# Runs at install time (from cmake/install.cmake): writes the config and the systemd files with
# the paths of this installation, CMAKE_INSTALL_PREFIX being the prefix given to `cmake --install`.
# The sources name the Debian layout (/usr/sbin/tinbaod, /etc/tinbao, /var/lib/tinbao); with the
# prefix /usr the installed files are the sources, with any other the paths follow the prefix.

# A GNUInstallDirs directory as an absolute path: /etc and /var for the prefix /usr, as
# GNUInstallDirs does (https://cmake.org/cmake/help/latest/module/GNUInstallDirs.html).
function(tinbao_full var dir kind)
  if(IS_ABSOLUTE "${dir}")
    set(full "${dir}")
  elseif(kind STREQUAL "system" AND CMAKE_INSTALL_PREFIX MATCHES "^/(usr/?)?$")
    set(full "/${dir}")
  else()
    set(full "${CMAKE_INSTALL_PREFIX}/${dir}")
  endif()
  set(${var} "${full}" PARENT_SCOPE)
endfunction()

tinbao_full(sbindir "${TINBAO_SBINDIR}" prefix)
tinbao_full(bindir "${TINBAO_BINDIR}" prefix)
tinbao_full(datadir "${TINBAO_DATADIR}" prefix)
tinbao_full(sysconfdir "${TINBAO_SYSCONFDIR}" system)
tinbao_full(localstatedir "${TINBAO_LOCALSTATEDIR}" system)
if(TINBAO_SYSTEMD_UNIT_DIR)
  set(unitdir "${TINBAO_SYSTEMD_UNIT_DIR}")
elseif(CMAKE_INSTALL_PREFIX MATCHES "^/usr/?$")
  set(unitdir "/lib/systemd/system")  # Debian 12's place for a package's units
else()
  set(unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
if(CMAKE_INSTALL_PREFIX MATCHES "^/usr/?$")
  set(libdir "/usr/lib")
else()
  set(libdir "${CMAKE_INSTALL_PREFIX}/lib")
endif()

# Replaces each FROM by its TO in the file's text; each FROM must be there, so that a change to
# the source that would leave a path of the checkout in an installed file stops the install.
function(tinbao_write src dst)
  file(READ "${TINBAO_SOURCE_DIR}/${src}" text)
  set(pairs ${ARGN})
  list(LENGTH pairs n)
  math(EXPR last "${n} - 1")
  foreach(i RANGE 0 ${last} 2)
    math(EXPR j "${i} + 1")
    list(GET pairs ${i} from)
    list(GET pairs ${j} to)
    string(FIND "${text}" "${from}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "install: '${from}' is no longer in ${src}; update cmake/install-files.cmake")
    endif()
    string(REPLACE "${from}" "${to}" text "${text}")
  endforeach()
  file(WRITE "${TINBAO_STAGING_DIR}/${dst}" "${text}")
endfunction()

set(TINBAO_STAGING_DIR "${TINBAO_BINARY_DIR}/install-files")
file(MAKE_DIRECTORY "${TINBAO_STAGING_DIR}")

# The installed config is the commented example with the installed paths, and the `local`
# client's token read from a file that the package's postinst (or the operator) creates, so that
# no two installations share a token.
tinbao_write(config/tinbao.example.yaml tinbao.yaml
  "state_dir: ../state" "state_dir: ${localstatedir}/lib/tinbao"
  "  dir: ../templates" "  dir: ${datadir}/tinbao/templates"
  "token: \"local-dev-token-change-me-0123456789\""
  "token: \"\${file:${sysconfdir}/tinbao/local-token}\"")
file(READ "${TINBAO_STAGING_DIR}/tinbao.yaml" config)
file(WRITE "${TINBAO_STAGING_DIR}/tinbao.yaml"
  "# Installed from tinbao's config/tinbao.example.yaml: state_dir and templates.dir name the\n"
  "# installed folders, and the `local` client's token is ${sysconfdir}/tinbao/local-token\n"
  "# (random, made at installation; `tinbaoctl` run as root reads it from here).\n"
  "#\n" "${config}")

set(unit_paths
  "/usr/sbin/tinbaod" "${sbindir}/tinbaod"
  "/etc/tinbao/tinbao.yaml" "${sysconfdir}/tinbao/tinbao.yaml")
tinbao_write(systemd/tinbao.service tinbao.service ${unit_paths})
file(READ "${TINBAO_STAGING_DIR}/tinbao.service" unit)
string(REPLACE "/usr/bin/tinbaoctl" "${bindir}/tinbaoctl" unit "${unit}")
file(WRITE "${TINBAO_STAGING_DIR}/tinbao.service" "${unit}")
tinbao_write(systemd/tinbao.sysusers tinbao.sysusers
  "/var/lib/tinbao" "${localstatedir}/lib/tinbao")
tinbao_write(systemd/tinbao.tmpfiles tinbao.tmpfiles
  "/var/lib/tinbao" "${localstatedir}/lib/tinbao")

file(INSTALL "${TINBAO_STAGING_DIR}/tinbao.yaml" DESTINATION "${sysconfdir}/tinbao"
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(INSTALL "${TINBAO_STAGING_DIR}/tinbao.service" DESTINATION "${unitdir}"
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(INSTALL "${TINBAO_STAGING_DIR}/tinbao.sysusers" DESTINATION "${libdir}/sysusers.d"
  RENAME tinbao.conf PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(INSTALL "${TINBAO_STAGING_DIR}/tinbao.tmpfiles" DESTINATION "${libdir}/tmpfiles.d"
  RENAME tinbao.conf PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# Installed straight onto this machine (no DESTDIR, as `make install` is used): make the token
# as the package's postinst does, readable by the service's group once systemd-sysusers made it.
set(token "${sysconfdir}/tinbao/local-token")
if("$ENV{DESTDIR}" STREQUAL "" AND NOT EXISTS "${token}")
  execute_process(COMMAND od -An -tx1 -N32 /dev/urandom OUTPUT_VARIABLE random
    COMMAND_ERROR_IS_FATAL ANY)
  string(REGEX REPLACE "[^0-9a-f]" "" random "${random}")
  file(WRITE "${token}" "${random}\n")
  file(CHMOD "${token}" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
  execute_process(COMMAND chgrp tinbao "${token}" RESULT_VARIABLE no_group ERROR_QUIET)
  if(no_group)
    message(STATUS "${token}: made; run `systemd-sysusers tinbao.conf` then `chgrp tinbao ${token}`")
  endif()
endif()
