# escalc_continuous.R -- escalc() for MN, MNLN, CVR, VR, SMD1, RPB, RBIS, D2ORL, D2ORN, SMCRH,
# ROMC, UCOR, PCOR, ZPCOR and Cronbach's alpha (ARAW, AHW, ABT), metafor 3.8-1.
#   Rscript escalc_continuous.R escalc_continuous.json
# Each case keeps its inputs (metafor's argument names), its options and R's yi/vi.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else "escalc_continuous.json"
na_json <- function(x) lapply(as.numeric(x), function(v) if (is.na(v)) NULL else v)

case <- function(measure, call, inputs, ...) {
  opts <- list(...)
  es <- suppressWarnings(do.call(escalc, c(list(measure = measure), inputs, opts)))
  list(measure = measure, call = call, inputs = lapply(inputs, na_json), options = opts,
       yi = na_json(es$yi), vi = na_json(es$vi))
}
nd <- dat.normand1999
two <- list(m1i = nd$m1i, sd1i = nd$sd1i, n1i = nd$n1i, m2i = nd$m2i, sd2i = nd$sd2i, n2i = nd$n2i)
two_call <- "m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.normand1999"
one_grp <- list(mi = nd$m1i, sdi = nd$sd1i, ni = nd$n1i)
one_call <- "mi=m1i, sdi=sd1i, ni=n1i, data=dat.normand1999"
# pre/post means of one group (dat.morris2008 is not in this metadat), made up
pp <- list(m1i = c(30.6, 23.5, 0.5, 53.4, 35.6), sd1i = c(15.0, 3.1, 0.1, 14.5, 4.7),
           m2i = c(38.5, 26.8, 0.7, 75.5, 36.0), sd2i = c(11.6, 4.1, 0.1, 4.4, 4.6),
           ni = c(20, 50, 9, 10, 14), ri = c(0.47, 0.64, 0.77, 0.89, 0.44))
pp_call <- "m1i, sd1i, m2i, sd2i, ni, ri (made-up pre/post frame)"
mo <- list(ri = c(dat.molloy2014$ri, 0.3), ni = c(dat.molloy2014$ni, 4))
mo_call <- "ri=ri, ni=ni, data=dat.molloy2014 (plus a study with ni = 4)"
al <- list(ti = dat.aloe2013$tval, ni = dat.aloe2013$n, mi = dat.aloe2013$preds)
al_call <- "ti=tval, ni=n, mi=preds, data=dat.aloe2013"
bo <- list(ai = dat.bonett2010$ai, mi = dat.bonett2010$mi, ni = dat.bonett2010$ni)
bo_call <- "ai=ai, mi=mi, ni=ni, data=dat.bonett2010"
cases <- list(
  case("MN", paste("escalc('MN',", one_call, ")"), one_grp),
  case("MNLN", paste("escalc('MNLN',", one_call, ")"), one_grp),
  case("CVR", paste("escalc('CVR',", two_call, ")"), two),
  case("VR", paste("escalc('VR',", two_call, ")"), two),
  case("SMD1", paste("escalc('SMD1',", two_call, ")"), two),
  case("RPB", paste("escalc('RPB',", two_call, ")"), two),
  case("RPB", paste("escalc('RPB',", two_call, ", vtype='CS')"), two, vtype = "CS"),
  case("RBIS", paste("escalc('RBIS',", two_call, ")"), two),
  case("D2ORL", paste("escalc('D2ORL',", two_call, ")"), two),
  case("D2ORN", paste("escalc('D2ORN',", two_call, ")"), two),
  case("SMCRH", paste("escalc('SMCRH',", pp_call, ")"), pp),
  case("ROMC", paste("escalc('ROMC',", pp_call, ")"), pp),
  case("UCOR", paste("escalc('UCOR',", mo_call, ")"), mo),
  case("UCOR", paste("escalc('UCOR',", mo_call, ", vtype='UB')"), mo, vtype = "UB"),
  case("UCOR", paste("escalc('UCOR',", mo_call, ", vtype='AV')"), mo, vtype = "AV"),
  case("PCOR", paste("escalc('PCOR',", al_call, ")"), al),
  case("PCOR", paste("escalc('PCOR',", al_call, ", vtype='AV')"), al, vtype = "AV"),
  case("ZPCOR", paste("escalc('ZPCOR',", al_call, ")"), al),
  case("ARAW", paste("escalc('ARAW',", bo_call, ")"), bo),
  case("AHW", paste("escalc('AHW',", bo_call, ")"), bo),
  case("ABT", paste("escalc('ABT',", bo_call, ")"), bo)
)
out <- list(versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor"))),
            cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), out_file)
