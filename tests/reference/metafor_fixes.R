# metafor_fixes.R -- reference values for defects fixed on the stats branch (metafor 3.8-1,
# psych 2.2.9, R 4.2). Each block names the R call the Python function must match.
#   Rscript metafor_fixes.R metafor_fixes.json
suppressPackageStartupMessages({library(metafor); library(psych); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else "metafor_fixes.json"
out <- list(versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                            psych = as.character(packageVersion("psych"))))

# ranktest(): metafor passes exact = TRUE to cor.test, so without ties the p-value is exact at any k
rk <- function(dat, call) {
  r <- ranktest(dat$yi, dat$vi)
  list(call = call, yi = as.numeric(dat$yi), vi = as.numeric(dat$vi), k = nrow(dat),
       tau = unname(r$tau), pval = r$pval,
       pval_normal_approx = ranktest(dat$yi, dat$vi, exact = FALSE)$pval)
}
d <- dat.landenberger2005
out$ranktest_landenberger2005 <- rk(escalc("OR", ai = n.cbt.non, n1i = n.cbt.non + n.cbt.rec,
  ci = n.ctrl.non, n2i = n.ctrl.non + n.ctrl.rec, data = d),
  "ranktest(escalc('OR', ai=n.cbt.non, n1i=n.cbt.non+n.cbt.rec, ci=n.ctrl.non, n2i=n.ctrl.non+n.ctrl.rec, data=dat.landenberger2005))")
out$ranktest_curtis1998 <- rk(escalc("ROM", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
  n2i = n2i, data = dat.curtis1998), "ranktest(escalc('ROM', ..., data=dat.curtis1998))")

# rma.peto(): tables with no events (or only events) in both arms are dropped (drop00 = TRUE) from
# the heterogeneity statistics
y <- dat.yusuf1985[dat.yusuf1985$table == "9" & !is.na(dat.yusuf1985$ai), ]
p <- rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = y)
out$peto_yusuf1985_table9 <- list(call = "rma.peto(ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.yusuf1985[table == '9' & !is.na(ai), ])",
  ai = y$ai, n1i = y$n1i, ci = y$ci, n2i = y$n2i, k = p$k, k_yi = p$k.yi, beta = as.numeric(p$beta), se = p$se,
  zval = p$zval, pval = p$pval, ci_lb = p$ci.lb, ci_ub = p$ci.ub, QE = p$QE, QEp = p$QEp, I2 = p$I2, H2 = p$H2)

# escalc("AS"): add defaults to 0 for AS whatever 'to' is; an explicit add is applied
e <- dat.egger2001
as_all <- escalc("AS", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = e, to = "all")
as_add <- escalc("AS", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = e, to = "all", add = 1/2)
or_none <- suppressWarnings(escalc("OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = e, to = "none"))
na_json <- function(x) lapply(as.numeric(x), function(v) if (is.na(v)) NULL else v)
out$escalc_egger2001 <- list(ai = e$ai, n1i = e$n1i, ci = e$ci, n2i = e$n2i,
  AS_to_all = list(call = "escalc('AS', ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.egger2001, to='all')",
                   yi = as.numeric(as_all$yi), vi = as.numeric(as_all$vi)),
  AS_to_all_add_half = list(call = "escalc('AS', ..., to='all', add=1/2)",
                   yi = as.numeric(as_add$yi), vi = as.numeric(as_add$vi)),
  OR_to_none = list(call = "escalc('OR', ..., to='none')  # +-Inf recoded to NA",
                    yi = na_json(or_none$yi), vi = na_json(or_none$vi)))
# rma on the to='none' log odds ratios (na.action = na.omit drops the NA row)
fit <- rma(yi, vi, data = or_none, method = "REML", control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000))
out$escalc_egger2001$OR_to_none$rma_reml <- list(k = fit$k, beta = as.numeric(fit$beta), se = fit$se, tau2 = fit$tau2)

# escalc("ROM"): log(m1i/m2i); two negative means give a finite ratio, means of opposite signs NaN -> NA
c8 <- dat.curtis1998[1:8, c("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")]
c8$m1i[2] <- -c8$m1i[2]; c8$m2i[2] <- -c8$m2i[2]   # both negative
c8$m1i[5] <- -c8$m1i[5]                            # opposite signs
rom <- suppressWarnings(escalc("ROM", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = c8))
out$rom_negative_means <- list(call = "escalc('ROM', ..., data=dat.curtis1998[1:8, ] with both means of row 2 and m1i of row 5 negated)",
  data = c8, yi = na_json(rom$yi), vi = na_json(rom$vi))

# psych::cohen.kappa: a negative or undefined large-sample variance is set to 0 (CI = [kappa, kappa])
kp <- function(r1, r2) {
  ck <- suppressWarnings(cohen.kappa(data.frame(r1, r2), levels = c(1, 2)))
  list(call = "psych::cohen.kappa(data.frame(r1, r2), levels = c(1, 2))", r1 = r1, r2 = r2,
       kappa = ck$kappa, var_kappa = ck$var.kappa, ci = unname(ck$confid[1, c("lower", "upper")]))
}
out$kappa_degenerate <- list(
  one_rater_constant = kp(c(1, 1, 1, 1, 1, 1), c(1, 1, 2, 1, 2, 1)),
  full_disagreement = kp(c(1, 1, 2, 2), c(2, 2, 1, 1)),
  chance = kp(c(1, 2, 1, 2), c(1, 1, 2, 2)))

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), out_file)
