# escalc_binary.R -- escalc() for the 2x2 measures PHI, YUQ, YUY, OR2DL, OR2DN and the paired
# binary measures MPRD, MPRR, MPOR, MPORC, MPPETO, metafor 3.8-1.
#   Rscript escalc_binary.R escalc_binary.json
# Each case keeps its inputs (metafor's argument names), its options and R's yi/vi.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else "escalc_binary.json"
na_json <- function(x) lapply(as.numeric(x), function(v) if (is.na(v)) NULL else v)

case <- function(measure, call, inputs, ...) {
  opts <- list(...)
  es <- do.call(escalc, c(list(measure = measure), inputs, opts))
  list(measure = measure, call = call, inputs = lapply(inputs, na_json), options = opts,
       yi = na_json(es$yi), vi = na_json(es$vi))
}
bcg <- list(ai = dat.bcg$tpos, bi = dat.bcg$tneg, ci = dat.bcg$cpos, di = dat.bcg$cneg)
niel <- list(ai = dat.nielweise2007$ai, n1i = dat.nielweise2007$n1i,
             ci = dat.nielweise2007$ci, n2i = dat.nielweise2007$n2i)
# paired tables (ai both, bi first only, ci second only, di neither), made up, one zero cell
paired <- list(ai = c(12, 30, 5, 44, 8), bi = c(9, 14, 0, 21, 6), ci = c(4, 7, 3, 10, 6),
               di = c(25, 49, 17, 80, 11))
bcg_call <- "ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg"
niel_call <- "ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.nielweise2007"
cases <- list(
  case("PHI", paste("escalc('PHI',", bcg_call, ")"), bcg),
  case("PHI", paste("escalc('PHI',", bcg_call, ", vtype='ST')"), bcg, vtype = "ST"),
  case("PHI", paste("escalc('PHI',", bcg_call, ", vtype='CS')"), bcg, vtype = "CS"),
  case("PHI", paste("escalc('PHI',", niel_call, ", add=1/2)"), niel, add = 0.5),
  case("YUQ", paste("escalc('YUQ',", bcg_call, ")"), bcg),
  case("YUY", paste("escalc('YUY',", bcg_call, ")"), bcg),
  case("YUQ", paste("escalc('YUQ',", niel_call, ")"), niel),
  case("YUY", paste("escalc('YUY',", niel_call, ", to='all')"), niel, to = "all"),
  case("OR2DL", paste("escalc('OR2DL',", bcg_call, ")"), bcg),
  case("OR2DN", paste("escalc('OR2DN',", bcg_call, ")"), bcg),
  case("OR2DL", paste("escalc('OR2DL',", niel_call, ")"), niel),
  case("OR2DN", paste("escalc('OR2DN',", niel_call, ", drop00=TRUE)"), niel, drop00 = TRUE),
  case("MPRD", "escalc('MPRD', ai, bi, ci, di) on the paired frame", paired),
  case("MPRR", "escalc('MPRR', ai, bi, ci, di) on the paired frame", paired),
  case("MPOR", "escalc('MPOR', ai, bi, ci, di) on the paired frame", paired),
  case("MPORC", "escalc('MPORC', ai, bi, ci, di) on the paired frame", paired),
  case("MPPETO", "escalc('MPPETO', ai, bi, ci, di) on the paired frame", paired),
  case("MPRD", "escalc('MPRD', ..., to='none') on the paired frame", paired, to = "none")
)
out <- list(versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor"))),
            cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), out_file)
