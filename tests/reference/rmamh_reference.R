# rmamh_reference.R -- rma.mh's Cochran (CO), Cochran-Mantel-Haenszel (MH), Breslow-Day (BD) and
# Tarone (TA) statistics for odds ratios, metafor 3.8-1.
#   Rscript rmamh_reference.R rmamh_reference.json
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else "rmamh_reference.json"
na1 <- function(v) if (is.na(v)) NULL else as.numeric(v)

one <- function(call, ai, bi, ci, di, correct = TRUE) {
  fit <- rma.mh(ai = ai, bi = bi, ci = ci, di = di, measure = "OR", correct = correct)
  list(call = call, ai = ai, bi = bi, ci = ci, di = di, correct = correct,
       beta = as.numeric(fit$beta), se = fit$se, QE = fit$QE, QEp = fit$QEp,
       CO = na1(fit$CO), COp = na1(fit$COp), MH = na1(fit$MH), MHp = na1(fit$MHp),
       BD = na1(fit$BD), BDp = na1(fit$BDp), TA = na1(fit$TA), TAp = na1(fit$TAp),
       k_pos = fit$k.pos)
}
b <- dat.bcg
c5 <- dat.collins1985b
c5 <- c5[!is.na(c5$pre.xti), ]
out <- list(
  versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor"))),
  bcg = one("rma.mh(ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg, measure='OR')",
            b$tpos, b$tneg, b$cpos, b$cneg),
  bcg_uncorrected = one("rma.mh(ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg, measure='OR', correct=FALSE)",
                        b$tpos, b$tneg, b$cpos, b$cneg, correct = FALSE),
  collins1985b = one(paste("rma.mh(ai=pre.xti, n1i=pre.nti, ci=pre.xci, n2i=pre.nci,",
                           "data=dat.collins1985b, measure='OR') (bi = n1i - ai, di = n2i - ci)"),
                     c5$pre.xti, c5$pre.nti - c5$pre.xti, c5$pre.xci, c5$pre.nci - c5$pre.xci),
  # a table with a zero cell and one without events: BD/TA use only k.pos tables
  zeros = one("rma.mh(ai=c(0,3,5,0), bi=c(20,17,15,10), ci=c(2,6,9,0), di=c(18,14,11,10), measure='OR')",
              c(0, 3, 5, 0), c(20, 17, 15, 10), c(2, 6, 9, 0), c(18, 14, 11, 10))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), out_file)
