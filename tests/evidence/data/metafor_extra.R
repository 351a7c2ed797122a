# metafor_extra.R: extra metafor 3.8-1 reference values for attunement.evidence, covering
# what the main fixture (tests/reference/metafor_reference.json) does not: influence() and
# regtest() after a meta-regression, influence() with user weights (GENQ), trim-and-fill with
# the Q0 estimator, weighted Orwin fail-safe N, cumulative meta-analysis, the rank test with
# ties, and escalc measures SMCC, SMCR, MC, AS, RD (vtype UB), SMD (LS2, AV), MD (HO).
# Usage: Rscript metafor_extra.R metafor_extra.json   (needs metafor and jsonlite)
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "metafor_extra.json"
TIGHT <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
res <- list(about = list(metafor = as.character(packageVersion("metafor")), R = R.version.string,
                         control = TIGHT))

bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
mr <- rma(yi, vi, mods = ~ ablat + factor(alloc), data = bcg, control = TIGHT)
inf <- influence(mr)
rt <- regtest(mr)
res$meta_regression_influence <- list(
  call = "rma(yi, vi, mods = ~ ablat + factor(alloc), data = escalc('RR', dat.bcg)); influence(); regtest()",
  inf = as.list(as.data.frame(inf$inf)[, 1:8]),
  dfbs = unname(as.list(as.data.frame(inf$dfbs))),
  influential = as.character(inf$inf$inf) == "*",
  regtest = list(z = rt$zval, p = rt$pval), R2 = mr$R2, QM = mr$QM)

ng <- with(dat.bcg, tpos + tneg + cpos + cneg)
gq <- rma(yi, vi, data = bcg, method = "GENQ", weights = ng, control = TIGHT)
ginf <- influence(gq)
res$genq_weights_influence <- list(
  call = "influence(rma(yi, vi, method = 'GENQ', weights = tpos + tneg + cpos + cneg))",
  inf = as.list(as.data.frame(ginf$inf)[, 1:8]),
  dfbs = unname(as.list(as.data.frame(ginf$dfbs))))

fe <- rma(yi, vi, data = bcg, method = "FE")
tf <- trimfill(fe, estimator = "Q0")
res$trimfill_Q0_FE <- list(k0 = tf$k0, se_k0 = tf$se.k0, side = tf$side, beta = as.numeric(tf$beta),
                           se = tf$se)
f <- fsn(yi, vi, data = bcg, type = "Orwin", weighted = TRUE)
res$fsn_orwin_weighted <- list(fsnum = f$fsnum, meanes = f$meanes, target = f$target)

chg <- data.frame(m1i = c(26.4, 31.2, 18.9), sd1i = c(4.1, 6.3, 3.7), m2i = c(23.1, 27.5, 18.2),
                  sd2i = c(4.4, 5.8, 3.9), ni = c(40, 65, 28), ri = c(0.55, 0.71, 0.42))
es <- list()
for (m in c("SMCC", "SMCR", "MC")) {
  e <- escalc(m, m1i = m1i, sd1i = sd1i, m2i = m2i, sd2i = sd2i, ni = ni, ri = ri, data = chg)
  es[[m]] <- list(yi = as.numeric(e$yi), vi = as.numeric(e$vi))
}
nor <- dat.normand1999
for (v in c("LS2", "AV")) {
  e <- escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = nor, vtype = v)
  es[[paste0("SMD_", v)]] <- list(yi = as.numeric(e$yi), vi = as.numeric(e$vi))
}
e <- escalc("MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = nor, vtype = "HO")
es$MD_HO <- list(yi = as.numeric(e$yi), vi = as.numeric(e$vi))
e <- escalc("AS", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
es$AS <- list(yi = as.numeric(e$yi), vi = as.numeric(e$vi))
e <- escalc("RD", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg, vtype = "UB")
es$RD_UB <- list(yi = as.numeric(e$yi), vi = as.numeric(e$vi))
res$escalc <- es

ty <- c(0.1, 0.3, 0.2, 0.5, 0.4, 0.2, 0.9, 0.1, 0.3, 0.6, 0.2, 0.4)
tv <- c(0.01, 0.02, 0.02, 0.05, 0.03, 0.01, 0.08, 0.01, 0.02, 0.05, 0.04, 0.03)
rk <- suppressWarnings(ranktest(ty, tv))
res$ranktest_ties <- list(yi = ty, vi = tv, tau = unname(rk$tau), pval = unname(rk$pval),
                          note = "ties: normal approximation as cor.test(method = 'kendall')")

reml <- rma(yi, vi, data = bcg, control = TIGHT)
cu <- as.data.frame(cumul(reml, order = year))
res$cumul_by_year <- list(call = "cumul(rma(yi, vi, data = bcg), order = year)",
                          estimate = cu$estimate, se = cu$se, pval = cu$pval, ci.lb = cu$ci.lb,
                          Q = cu$Q, tau2 = cu$tau2, I2 = cu$I2, H2 = cu$H2)
res$change_data <- as.list(chg)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE), out)
