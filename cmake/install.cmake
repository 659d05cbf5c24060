# What `cmake --install` puts where. With --prefix /usr it is the Debian package's layout
# (debian/rules installs through these rules too):
#   /usr/sbin/tinbaod, /usr/bin/tinbaoctl
#   /etc/tinbao/tinbao.yaml             config/tinbao.example.yaml pointed at the paths below
#   /usr/share/tinbao/templates/        the shipped templates and samples/ (for --check)
#   /usr/share/tinbao/monitoring/       the Grafana dashboard and the Prometheus alert rules
#   /lib/systemd/system/tinbao.service  ExecStart= and the config path follow the prefix
#   /usr/lib/sysusers.d/tinbao.conf, /usr/lib/tmpfiles.d/tinbao.conf
#   /usr/share/man/man{1,5,8}/          tinbaoctl(1), tinbao.yaml(5), tinbaod(8)
#   /usr/share/doc/tinbao/              README.md and docs/
# The files that name other installed paths are written at install time (cmake/install-files.cmake),
# so `cmake --install build --prefix P` gives paths under P whatever the configured prefix was.
include(GNUInstallDirs)

set(TINBAO_SYSTEMD_UNIT_DIR "" CACHE STRING
  "Where the systemd unit goes (default: /lib/systemd/system for the prefix /usr, as on Debian 12; else PREFIX/lib/systemd/system)")

# Man pages: Markdown sources in man/, turned into roff by go-md2man (Debian's go-md2man).
find_program(TINBAO_GO_MD2MAN go-md2man)
set(man_pages tinbaod.8 tinbaoctl.1 tinbao.yaml.5)
if(TINBAO_GO_MD2MAN)
  set(man_outputs)
  foreach(page ${man_pages})
    set(out ${PROJECT_BINARY_DIR}/man/${page})
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
      COMMAND ${TINBAO_GO_MD2MAN} -in ${PROJECT_SOURCE_DIR}/man/${page}.md -out ${out}
      DEPENDS ${PROJECT_SOURCE_DIR}/man/${page}.md
      COMMENT "Generating man page ${page}" VERBATIM)
    list(APPEND man_outputs ${out})
    string(REGEX MATCH "[0-9]$" section ${page})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  add_custom_target(tinbao_man ALL DEPENDS ${man_outputs})
else()
  message(WARNING "go-md2man not found (scripts/install-deps.sh installs it): no man pages")
endif()

install(DIRECTORY ${PROJECT_SOURCE_DIR}/templates/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/tinbao/templates)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/monitoring/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/tinbao/monitoring)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)

# The config and the systemd files, with the paths of this installation written in.
install(CODE "
  set(TINBAO_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
  set(TINBAO_BINARY_DIR \"${PROJECT_BINARY_DIR}\")
  set(TINBAO_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(TINBAO_SBINDIR \"${CMAKE_INSTALL_SBINDIR}\")
  set(TINBAO_SYSCONFDIR \"${CMAKE_INSTALL_SYSCONFDIR}\")
  set(TINBAO_LOCALSTATEDIR \"${CMAKE_INSTALL_LOCALSTATEDIR}\")
  set(TINBAO_DATADIR \"${CMAKE_INSTALL_DATADIR}\")
  set(TINBAO_SYSTEMD_UNIT_DIR \"${TINBAO_SYSTEMD_UNIT_DIR}\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/install-files.cmake\")
")
