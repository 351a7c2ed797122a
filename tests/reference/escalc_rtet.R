# escalc_rtet.R -- tetrachoric correlations (RTET), metafor 3.8-1 with mvtnorm.
#   Rscript escalc_rtet.R escalc_rtet.json
# The bivariate-normal model of a 2x2 table is saturated: the ML thresholds are qnorm of the
# margins and rho solves pmvnorm(upper = c(h, k), corr = rho) = ai/ni. metafor finds it with
# Nelder-Mead (optimiser tolerance), so this script also solves it with uniroot to 1e-14
# ('exact') and takes the variance from optimHess at that solution (Richardson-extrapolated).
suppressPackageStartupMessages({library(metafor); library(jsonlite); library(mvtnorm)})
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else "escalc_rtet.json"
b <- dat.bcg
tabs <- list(ai = c(b$tpos, 30), bi = c(b$tneg, 10), ci = c(b$cpos, 5), di = c(b$cneg, 40))
es <- escalc("RTET", ai = tabs$ai, bi = tabs$bi, ci = tabs$ci, di = tabs$di)
nll <- function(par, a, b, c, d) {
  R <- matrix(c(1, par[1], par[1], 1), 2)
  p <- c(pmvnorm(upper = c(par[3], par[2]), corr = R),
         pmvnorm(lower = c(par[3], -Inf), upper = c(Inf, par[2]), corr = R),
         pmvnorm(lower = c(-Inf, par[2]), upper = c(par[3], Inf), corr = R),
         pmvnorm(lower = c(par[3], par[2]), corr = R))
  -sum(c(a, b, c, d) * log(p))
}
exact_yi <- exact_vi <- numeric(length(tabs$ai))
for (i in seq_along(tabs$ai)) {
  a <- tabs$ai[i]; bb <- tabs$bi[i]; cc <- tabs$ci[i]; d <- tabs$di[i]; n <- a + bb + cc + d
  h <- qnorm((a + bb) / n); k <- qnorm((a + cc) / n)
  f <- function(r) pmvnorm(upper = c(k, h), corr = matrix(c(1, r, r, 1), 2))[1] - a / n
  rho <- uniroot(f, c(-0.999999, 0.999999), tol = 1e-14)$root
  # finite-difference Hessians at two steps, Richardson-extrapolated (error O(step^4))
  hess <- function(step) optimHess(c(rho, h, k), nll, a = a, b = bb, c = cc, d = d,
                                   control = list(ndeps = rep(step, 3)))
  H <- (4 * hess(1e-3) - hess(2e-3)) / 3
  exact_yi[i] <- rho
  exact_vi[i] <- solve(H)[1, 1]
}
out <- list(versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                            mvtnorm = as.character(packageVersion("mvtnorm"))),
            call = "escalc('RTET', ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg) plus the table (30, 10, 5, 40)",
            inputs = tabs, metafor_yi = es$yi, metafor_vi = es$vi,
            exact_yi = exact_yi, exact_vi = exact_vi)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), out_file)
