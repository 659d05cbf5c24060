-- ARGV: key prefix, dossier code. The dossier's waiting notices (waiting_of).
return waiting_of(ARGV[1], ARGV[2])
